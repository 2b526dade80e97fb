package inference

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

var (
	runtimeMu   sync.Mutex
	runtimePath string
)

// InitRuntime loads the ONNX Runtime shared library once per process. Calling
// it again with the same path (or an empty one) is a no-op; a different path
// is an error because a process can only hold one runtime.
func InitRuntime(libPath string) error {
	runtimeMu.Lock()
	defer runtimeMu.Unlock()
	if ort.IsInitialized() {
		if libPath == "" || runtimePath == "" || samePath(libPath, runtimePath) {
			return nil
		}
		return fmt.Errorf("inference: ONNX Runtime already loaded from %s, cannot switch to %s", runtimePath, libPath)
	}
	if libPath == "" {
		return errors.New("inference: no ONNX Runtime library path given (see scripts/fetch-ort.sh)")
	}
	if _, err := os.Stat(libPath); err != nil {
		return fmt.Errorf("inference: ONNX Runtime library: %w (run scripts/fetch-ort.sh)", err)
	}
	ort.SetSharedLibraryPath(libPath)
	// ORT logs to stderr on its own; only errors are worth that.
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("inference: loading ONNX Runtime from %s: %w", libPath, err)
	}
	runtimePath = libPath
	return nil
}

func runtimeReady() bool {
	runtimeMu.Lock()
	defer runtimeMu.Unlock()
	return ort.IsInitialized()
}

func samePath(a, b string) bool {
	if a == b {
		return true
	}
	resolve := func(p string) string {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		return p
	}
	return resolve(a) == resolve(b)
}

func newSessionOptions(threads int, forInfo bool) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	if forInfo {
		// Only names and shapes are read; skip graph optimization.
		err = so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll)
	} else if threads > 0 {
		err = so.SetIntraOpNumThreads(threads)
	}
	if err != nil {
		so.Destroy()
		return nil, err
	}
	return so, nil
}

func ioInfo(path string) (ins, outs []ort.InputOutputInfo, err error) {
	so, err := newSessionOptions(0, true)
	if err != nil {
		return nil, nil, err
	}
	defer so.Destroy()
	ins, outs, err = ort.GetInputOutputInfoWithOptions(path, so)
	if err != nil {
		return nil, nil, fmt.Errorf("inference: reading %s: %w", path, err)
	}
	return ins, outs, nil
}
