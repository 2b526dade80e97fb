"""Greedy (batched) and beam search decoding with transformers' semantics, the
same as the Go inference package: start token first, no_repeat_ngram_size,
bad_words_ids, BeamSearchScorer with early_stopping=False and length_penalty."""

import torch
import torch.nn.functional as F

from training.text import BOS, EOS


def ban(seqs, scores, no_repeat, bad_words, eos=EOS):
    """no_repeat_ngram_size and bad_words_ids as transformers applies them; scores [rows, vocab].
    A bad word equal to [eos] is never banned."""
    n = no_repeat
    single = [bw[0] for bw in bad_words if len(bw) == 1 and bw != [eos]]
    if single:  # one indexing op for every row (on a GPU, one kernel instead of one per row)
        scores[:, single] = -float("inf")
    for row, seq in enumerate(seqs):
        if n > 0 and len(seq) + 1 >= n:
            prefix = tuple(seq[len(seq) + 1 - n:])
            for i in range(len(seq) - n + 1):
                if tuple(seq[i:i + n - 1]) == prefix:
                    scores[row, seq[i + n - 1]] = -float("inf")
        for bw in bad_words:
            if len(bw) > 1 and seq[-(len(bw) - 1):] == bw[:-1]:
                scores[row, bw[-1]] = -float("inf")
    return scores


@torch.no_grad()
def greedy_batch(dec, enc, max_length, no_repeat=0, bad_words=()):
    """enc: [batch, cells, d]. Returns lists of ids (start token first, eos last if produced).
    Uses the self-attention KV cache and precomputed cross-attention keys/values."""
    b = enc.shape[0]
    cross = [blk.cross_kv(enc) for blk in dec.h]
    seqs = torch.full((b, 1), BOS, dtype=torch.long, device=enc.device)
    done = torch.zeros(b, dtype=torch.bool, device=enc.device)
    pasts = None
    while seqs.shape[1] < max_length and not done.all():
        logits, pasts = dec(seqs[:, -1:], None, pasts, cross=cross)
        scores = logits[:, -1, :].clone()
        if no_repeat or bad_words:
            scores = ban(seqs.tolist(), scores, no_repeat, bad_words)
        tok = scores.argmax(-1)
        tok = torch.where(done, torch.full_like(tok, EOS), tok)
        seqs = torch.cat([seqs, tok[:, None]], 1)
        done |= tok == EOS
    out = []
    for s in seqs.tolist():
        if EOS in s:
            s = s[:s.index(EOS) + 1]
        out.append(s)
    return out


@torch.no_grad()
def beam_search(dec, enc, num_beams, max_length, no_repeat=0, bad_words=(), length_penalty=1.0):
    """One image (enc [1, cells, d]); transformers' BeamSearchScorer, early_stopping=False."""
    nb = num_beams
    seqs = [[BOS] for _ in range(nb)]
    beam_scores = torch.tensor([0.0] + [-1e9] * (nb - 1), dtype=torch.float64)
    hyps, worst, done = [], 1e9, False
    encb = enc.expand(nb, -1, -1)

    def add(seq, total):
        nonlocal worst
        score = total / (len(seq) ** length_penalty)
        if len(hyps) < nb or score > worst:
            hyps.append((score, list(seq)))
            if len(hyps) > nb:
                ranked = sorted((h[0], i) for i, h in enumerate(hyps))
                del hyps[ranked[0][1]]
                worst = ranked[1][0]
            else:
                worst = min(score, worst)

    while True:
        cur = len(seqs[0])
        logits, _ = dec(torch.tensor(seqs), encb)
        scores = F.log_softmax(logits[:, -1, :].double(), dim=-1)
        scores = ban(seqs, scores, no_repeat, bad_words) + beam_scores[:, None]
        vocab = scores.shape[-1]
        top, idx = torch.topk(scores.view(-1), 2 * nb)
        nxt = []
        for rank, (s, i) in enumerate(zip(top.tolist(), idx.tolist())):
            b, t = i // vocab, i % vocab
            if t == EOS:
                if rank < nb:
                    add(seqs[b], s)
            else:
                nxt.append((s, t, b))
            if len(nxt) == nb:
                break
        if len(hyps) >= nb and not done:
            done = worst >= float(top[0]) / (cur ** length_penalty)
        seqs = [seqs[b] + [t] for _, t, b in nxt]
        beam_scores = torch.tensor([s for s, _, _ in nxt], dtype=torch.float64)
        if done or len(seqs[0]) >= max_length:
            break
    if not done:
        for seq, s in zip(seqs, beam_scores.tolist()):
            add(seq, s)
    best = max(enumerate(hyps), key=lambda h: (h[1][0], h[0]))[1]
    seq = best[1]
    if len(seq) < max_length:
        seq = seq + [EOS]
    return seq, best[0]


@torch.no_grad()
def beam_search_batch(dec, enc, num_beams, max_length, no_repeat=0, bad_words=(), length_penalty=1.0):
    """beam_search() for many images at once ([N, cells, d]), with self-attention KV cache
    and precomputed cross-attention keys/values. Same per-image bookkeeping; results can
    differ from beam_search() only by float rounding of the cached computation."""
    n, nb = enc.shape[0], num_beams
    cross = [tuple(t.repeat_interleave(nb, 0) for t in blk.cross_kv(enc)) for blk in dec.h]
    seqs = [[[BOS] for _ in range(nb)] for _ in range(n)]
    beam_scores = [[0.0] + [-1e9] * (nb - 1) for _ in range(n)]
    hyps = [[] for _ in range(n)]
    worst = [1e9] * n
    done = [False] * n
    results = [None] * n
    active = list(range(n))
    pasts = None
    tokens = torch.full((n * nb, 1), BOS, dtype=torch.long)

    def add(i, seq, total):
        score = total / (len(seq) ** length_penalty)
        h = hyps[i]
        if len(h) < nb or score > worst[i]:
            h.append((score, list(seq)))
            if len(h) > nb:
                ranked = sorted((x[0], j) for j, x in enumerate(h))
                del h[ranked[0][1]]
                worst[i] = ranked[1][0]
            else:
                worst[i] = min(score, worst[i])

    while active:
        logits, presents = dec(tokens, None, pasts, cross=cross)
        logp = F.log_softmax(logits[:, -1, :].double(), dim=-1)
        vocab = logp.shape[-1]
        keep_rows, next_tokens, still = [], [], []
        for a, i in enumerate(active):
            cur = len(seqs[i][0])
            sc = ban(seqs[i], logp[a * nb:(a + 1) * nb].clone(), no_repeat, bad_words)
            sc = sc + torch.tensor(beam_scores[i], dtype=torch.float64)[:, None]
            top, idx = torch.topk(sc.view(-1), 2 * nb)
            nxt = []
            for rank, (s, j) in enumerate(zip(top.tolist(), idx.tolist())):
                b, t = j // vocab, j % vocab
                if t == EOS:
                    if rank < nb:
                        add(i, seqs[i][b], s)
                else:
                    nxt.append((s, t, b))
                if len(nxt) == nb:
                    break
            if len(hyps[i]) >= nb and not done[i]:
                done[i] = worst[i] >= float(top[0]) / (cur ** length_penalty)
            seqs[i] = [seqs[i][b] + [t] for _, t, b in nxt]
            beam_scores[i] = [s for s, _, _ in nxt]
            if done[i] or len(seqs[i][0]) >= max_length:
                if not done[i]:
                    for seq, s in zip(seqs[i], beam_scores[i]):
                        add(i, seq, s)
                best = max(enumerate(hyps[i]), key=lambda h: (h[1][0], h[0]))[1]
                seq = best[1] + ([EOS] if len(best[1]) < max_length else [])
                results[i] = (seq, best[0])
            else:
                still.append(i)
                keep_rows += [a * nb + b for _, _, b in nxt]
                next_tokens += [t for _, t, _ in nxt]
        active = still
        if not active:
            break
        rows = torch.tensor(keep_rows)
        pasts = [(k[rows], v[rows]) for k, v in presents]
        cross = [(k[rows], v[rows]) for k, v in cross]
        tokens = torch.tensor(next_tokens, dtype=torch.long)[:, None]
    return results
