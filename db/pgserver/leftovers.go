package pgserver

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clearLeftovers deals with what a killed run of the app left behind. A
// postmaster still running on the data dir is stopped, so the new one is our
// child with our settings. Lock files whose pid now names some other process
// are removed, because postgres would refuse to start on them.
func clearLeftovers(dataDir string, log *slog.Logger) error {
	pidFile := filepath.Join(dataDir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	realDir, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	pid, _ := strconv.Atoi(pidFileLine(b, 1))
	if pid > 0 {
		switch runsIn(pid, realDir) {
		case procUnknown:
			// Cannot tell (no /proc): leave it to postgres's own checks.
			return nil
		case procGone:
			log.Info("removing stale postmaster.pid: its pid is dead or another program", "pid", pid, "dir", dataDir)
		case procInDir:
			// Not an orphan but the live child of another copy of this
			// program (say, the app started twice): stopping it would pull
			// the database from under that copy.
			if app := sameProgramParent(pid); app > 0 {
				port := pidFileLine(b, 4)
				return fmt.Errorf("embedded postgres: %s is in use by postgres (pid %d) of a running copy of this program (pid %d); "+
					"stop that copy, use another DATA_DIR, or share its database with DATABASE_URL=postgres://%s@127.0.0.1:%s/%s?sslmode=disable",
					dataDir, pid, app, superuser, port, database)
			}
			log.Warn("postgres from a previous run is still running on the data dir; restarting it", "pid", pid, "dir", dataDir)
			if err := stopOrphan(pid, realDir); err != nil {
				return err
			}
		}
	}
	// Backends outlive a killed postmaster for a moment; while any runs in
	// the data dir, the lock file's shared-memory key must stay for
	// postgres to see them.
	if others := processesIn(realDir); len(others) > 0 {
		log.Warn("processes of an earlier postgres still run in the data dir", "pids", others)
		return nil
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("embedded postgres: removing stale %s: %w", pidFile, err)
	}
	locks, _ := filepath.Glob(filepath.Join(dataDir, ".s.PGSQL.*.lock"))
	for _, l := range locks {
		_ = os.Remove(l)
	}
	return nil
}

type procState int

const (
	procGone    procState = iota // dead, a zombie, or another program
	procInDir                    // a live process working in the data dir
	procUnknown                  // cannot tell
)

// runsIn tells whether pid is a live process whose working directory is dir;
// the postmaster and its backends chdir into the data dir.
func runsIn(pid int, dir string) procState {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return procGone
	}
	if isZombie(pid) {
		return procGone
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	switch {
	case err == nil:
		if cwd == dir {
			return procInDir
		}
		return procGone
	case errors.Is(err, os.ErrNotExist):
		if _, err := os.Stat("/proc/self"); err != nil {
			return procUnknown
		}
		return procGone
	default:
		// Another user's process: trust its name.
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			return procInDir
		}
		return procGone
	}
}

// procStat returns the fields of /proc/PID/stat after the command name:
// state, ppid, ...
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func isZombie(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && f[0] == "Z"
}

// sameProgramParent returns the parent of pid when that parent is alive and
// runs the same executable as we do, else 0. An orphan's parent is init or a
// subreaper instead.
func sameProgramParent(pid int) int {
	f := procStat(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil || ppid <= 1 {
		return 0
	}
	self, err1 := os.Readlink("/proc/self/exe")
	parent, err2 := os.Readlink(fmt.Sprintf("/proc/%d/exe", ppid))
	if err1 != nil || err2 != nil || self != parent {
		return 0
	}
	return ppid
}

// pidFileLine returns line n (1-based) of postmaster.pid.
func pidFileLine(b []byte, n int) string {
	lines := strings.Split(string(b), "\n")
	if n > len(lines) {
		return "?"
	}
	return strings.TrimSpace(lines[n-1])
}

// processesIn lists live processes working in dir.
func processesIn(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err == nil && cwd == dir && !isZombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// stopOrphan shuts down a postmaster that is not our child: fast shutdown,
// then immediate, then kill, polling since we cannot wait for it.
func stopOrphan(pid int, dir string) error {
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{syscall.SIGINT, stopTimeout}, {syscall.SIGQUIT, 5 * time.Second}, {syscall.SIGKILL, 5 * time.Second}}
	for _, st := range steps {
		target := pid
		if st.sig == syscall.SIGKILL {
			if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
				target = -pid // its backends too
			}
		}
		if err := syscall.Kill(target, st.sig); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return nil
			}
			return fmt.Errorf("embedded postgres: a postgres (pid %d) from an earlier run still runs on %s and cannot be stopped (%v); "+
				"stop it by hand or set DATABASE_URL", pid, dir, err)
		}
		for end := time.Now().Add(st.wait); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if runsIn(pid, dir) != procInDir {
				return nil
			}
		}
	}
	return fmt.Errorf("embedded postgres: a postgres (pid %d) from an earlier run on %s did not exit", pid, dir)
}
