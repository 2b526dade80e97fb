package inference

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// Names used by Optimum's VisionEncoderDecoder exports.
const (
	inPixelValues     = "pixel_values"
	outLastHidden     = "last_hidden_state"
	inInputIDs        = "input_ids"
	inEncoderHidden   = "encoder_hidden_states"
	inEncoderMask     = "encoder_attention_mask"
	inUseCacheBranch  = "use_cache_branch"
	outLogits         = "logits"
	pastPrefix        = "past_key_values."
	presentPrefix     = "present."
	crossAttnNamePart = ".encoder."
)

// pastSpec pairs one past_key_values.* input with its present.* output.
type pastSpec struct {
	input, output  string
	heads, headDim int64
	// cross marks cross-attention caches (".encoder."): computed at the first
	// step and then reused, as the with-past branch only returns placeholders.
	cross bool
}

// decoderIO is what Open learned about the decoder graph's inputs and outputs.
type decoderIO struct {
	path    string
	inputs  []string // session input order
	outputs []string // logits, then the presents in pasts order
	pasts   []pastSpec
	merged  bool // has use_cache_branch
	vocab   int64
}

func inspectDecoder(path string, cfg *modelConfig) (*decoderIO, error) {
	ins, outs, err := ioInfo(path)
	if err != nil {
		return nil, err
	}
	outDims := map[string]ort.Shape{}
	for _, o := range outs {
		outDims[o.Name] = o.Dimensions
	}
	logits, ok := outDims[outLogits]
	if !ok {
		return nil, fmt.Errorf("inference: decoder %s has no %q output", path, outLogits)
	}
	d := &decoderIO{path: path, outputs: []string{outLogits}}
	if len(logits) == 3 && logits[2] > 0 {
		d.vocab = logits[2]
	}
	cfgHeads, cfgHeadDim := cfg.heads()
	seen := map[string]bool{}
	for _, in := range ins {
		name := in.Name
		switch {
		case name == inInputIDs, name == inEncoderHidden, name == inEncoderMask,
			name == "attention_mask", name == "decoder_attention_mask":
		case name == inUseCacheBranch:
			d.merged = true
		case strings.HasPrefix(name, pastPrefix):
			out := presentPrefix + strings.TrimPrefix(name, pastPrefix)
			if _, ok := outDims[out]; !ok {
				return nil, fmt.Errorf("inference: decoder %s has input %q but no output %q", path, name, out)
			}
			if len(in.Dimensions) != 4 {
				return nil, fmt.Errorf("inference: decoder input %q has shape %v, want [batch, heads, length, head_dim]", name, in.Dimensions)
			}
			p := pastSpec{input: name, output: out, heads: in.Dimensions[1], headDim: in.Dimensions[3],
				cross: strings.Contains(name, crossAttnNamePart)}
			if p.heads <= 0 {
				p.heads = int64(cfgHeads)
			}
			if p.headDim <= 0 {
				p.headDim = int64(cfgHeadDim)
			}
			if p.heads <= 0 || p.headDim <= 0 {
				return nil, fmt.Errorf("inference: cannot tell heads/head_dim of %q from the model or config.json", name)
			}
			d.pasts = append(d.pasts, p)
			d.outputs = append(d.outputs, out)
		default:
			return nil, fmt.Errorf("inference: decoder %s has unsupported input %q", path, name)
		}
		seen[name] = true
		d.inputs = append(d.inputs, name)
	}
	for _, need := range []string{inInputIDs, inEncoderHidden} {
		if !seen[need] {
			return nil, fmt.Errorf("inference: decoder %s has no %q input", path, need)
		}
	}
	if len(d.pasts) > 0 && !d.merged {
		return nil, fmt.Errorf("inference: decoder %s takes past_key_values but has no use_cache_branch input; use decoder_model_merged.onnx or decoder_model.onnx", path)
	}
	if d.merged && len(d.pasts) == 0 {
		return nil, fmt.Errorf("inference: decoder %s has use_cache_branch but no past_key_values inputs", path)
	}
	return d, nil
}

// stepper runs the decoder one step at a time for a batch of sequences and
// owns the KV cache tensors between steps.
type stepper struct {
	io      *decoderIO
	sess    *ort.DynamicAdvancedSession
	run     *ort.RunOptions
	enc     *ort.Tensor[float32] // [batch, encSeq, hidden]
	encSeq  int64
	batch   int
	past    []*ort.Tensor[float32] // nil before the first step
	pastLen int
	step    int
	onStep  func(StepInfo)
	same    int // oneImage's answer once asked: 1 yes, -1 no
}

func (s *stepper) cached() bool { return len(s.io.pasts) > 0 }

func (s *stepper) close() {
	for _, t := range s.past {
		if t != nil {
			t.Destroy()
		}
	}
	s.past = nil
}

// next feeds the sequences (all the same length) and returns the last
// position's logits, [batch*vocab]. With a KV cache only the tokens that are
// not cached yet are fed.
func (s *stepper) next(seqs [][]int64) ([]float32, int, error) {
	if len(seqs) != s.batch {
		return nil, 0, fmt.Errorf("inference: %d sequences for batch %d", len(seqs), s.batch)
	}
	seqLen := len(seqs[0]) - s.pastLen
	if seqLen <= 0 {
		return nil, 0, errors.New("inference: no new tokens to feed")
	}
	ids := make([]int64, 0, s.batch*seqLen)
	for _, q := range seqs {
		ids = append(ids, q[s.pastLen:]...)
	}

	var owned []ort.Value
	defer func() {
		for _, v := range owned {
			v.Destroy()
		}
	}()
	useCache := s.cached() && s.past != nil
	if s.cached() && s.past == nil {
		s.past = make([]*ort.Tensor[float32], len(s.io.pasts))
		for i, p := range s.io.pasts {
			t, err := ort.NewTensor(ort.NewShape(int64(s.batch), p.heads, 0, p.headDim), []float32{})
			if err != nil {
				return nil, 0, err
			}
			s.past[i] = t
		}
	}
	inputs := make([]ort.Value, len(s.io.inputs))
	pi := 0
	for i, name := range s.io.inputs {
		var v ort.Value
		var err error
		switch {
		case name == inInputIDs:
			v, err = ort.NewTensor(ort.NewShape(int64(s.batch), int64(seqLen)), ids)
		case name == inEncoderHidden:
			inputs[i] = s.enc
			continue
		case name == inEncoderMask:
			v, err = onesTensor(s.batch, int(s.encSeq))
		case name == "attention_mask", name == "decoder_attention_mask":
			v, err = onesTensor(s.batch, s.pastLen+seqLen)
		case name == inUseCacheBranch:
			v, err = ort.NewTensor(ort.NewShape(1), []bool{useCache})
		default: // a past, in pasts order
			inputs[i] = s.past[pi]
			pi++
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("inference: building %s: %w", name, err)
		}
		owned = append(owned, v)
		inputs[i] = v
	}

	outputs := make([]ort.Value, len(s.io.outputs))
	if err := s.sess.RunWithOptions(inputs, outputs, s.run); err != nil {
		for _, o := range outputs {
			if o != nil {
				o.Destroy()
			}
		}
		return nil, 0, fmt.Errorf("inference: decoder step %d: %w", s.step, err)
	}
	logitsT, ok := outputs[0].(*ort.Tensor[float32])
	for _, o := range outputs[1:] {
		if _, isF := o.(*ort.Tensor[float32]); !isF {
			ok = false
		}
	}
	if !ok {
		for _, o := range outputs {
			o.Destroy()
		}
		return nil, 0, errors.New("inference: decoder outputs are not float32 tensors")
	}
	shape := logitsT.GetShape()
	if len(shape) != 3 || shape[0] != int64(s.batch) || shape[1] != int64(seqLen) {
		for _, o := range outputs {
			o.Destroy()
		}
		return nil, 0, fmt.Errorf("inference: logits shape %v, want [%d, %d, vocab]", shape, s.batch, seqLen)
	}
	vocab := int(shape[2])
	all := logitsT.GetData()
	last := make([]float32, s.batch*vocab)
	for b := 0; b < s.batch; b++ {
		row := (b*seqLen + seqLen - 1) * vocab
		copy(last[b*vocab:(b+1)*vocab], all[row:row+vocab])
	}
	logitsT.Destroy()

	presentLen := 0
	for i, p := range s.io.pasts {
		t := outputs[1+i].(*ort.Tensor[float32])
		if p.cross && useCache {
			// The with-past branch returns placeholders for cross-attention.
			t.Destroy()
			continue
		}
		s.past[i].Destroy()
		s.past[i] = t
		if !p.cross {
			presentLen = int(t.GetShape()[2])
		}
	}
	info := StepInfo{Step: s.step, Batch: s.batch, InputLen: seqLen, PastLen: s.pastLen,
		PresentLen: presentLen, UseCache: useCache, Logits: last, Vocab: vocab}
	if s.cached() {
		if presentLen != s.pastLen+seqLen {
			return nil, 0, fmt.Errorf("inference: decoder returned %d cached positions, want %d", presentLen, s.pastLen+seqLen)
		}
		s.pastLen = presentLen
	}
	s.step++
	if s.onStep != nil {
		s.onStep(info)
	}
	return last, vocab, nil
}

// reorder makes cache row i a copy of row idx[i], for beam search.
func (s *stepper) reorder(idx []int) error {
	if !s.cached() || s.past == nil {
		return nil
	}
	identity := true
	for i, j := range idx {
		if i != j {
			identity = false
		}
	}
	if identity {
		return nil
	}
	for i, t := range s.past {
		if s.io.pasts[i].cross && s.oneImage() {
			continue
		}
		shape := t.GetShape()
		data := t.GetData()
		row := len(data) / s.batch
		out := make([]float32, len(data))
		for dst, src := range idx {
			copy(out[dst*row:(dst+1)*row], data[src*row:(src+1)*row])
		}
		nt, err := ort.NewTensor(shape, out)
		if err != nil {
			return err
		}
		t.Destroy()
		s.past[i] = nt
	}
	return nil
}

// oneImage reports whether every row of the encoder states is the same (beam search
// over one photo): the cross-attention caches' rows are then equal, and reordering
// them would only copy.
func (s *stepper) oneImage() bool {
	if s.same == 0 {
		s.same = 1
		d := s.enc.GetData()
		row := len(d) / s.batch
		for b := 1; b < s.batch; b++ {
			if !slices.Equal(d[:row], d[b*row:(b+1)*row]) {
				s.same = -1
				break
			}
		}
	}
	return s.same > 0
}

func onesTensor(rows, cols int) (*ort.Tensor[int64], error) {
	data := make([]int64, rows*cols)
	for i := range data {
		data[i] = 1
	}
	return ort.NewTensor(ort.NewShape(int64(rows), int64(cols)), data)
}
