// Package pgserver runs a private PostgreSQL server from the machine's own
// binaries (Debian's postgresql package), for when no DATABASE_URL is given.
//
// The cluster lives in Options.DataDir and is created on first use. The
// server listens on 127.0.0.1 only, with trust authentication, under the
// superuser role "captionai", and serves the database "captionai". When the
// app runs as root, initdb and the server run as the postgres user (or
// nobody), since PostgreSQL refuses to run as root.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	superuser    = "captionai"
	database     = "captionai"
	readyTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
	logFileName  = "postgres.log"
	maxLogSize   = 16 << 20
	// sun_path holds 108 bytes including the terminating NUL.
	maxSocketPath = 107
)

// Options configures Start.
type Options struct {
	DataDir string // cluster directory; created on first run, reused after
	Port    int    // TCP port on 127.0.0.1
	// BinDir holds initdb and postgres (the app's PG_BIN_DIR). Default: the
	// existing cluster's major version or else the newest under
	// /usr/lib/postgresql/*/bin, else the directories of pg_ctl or postgres
	// on PATH.
	BinDir string
	Log    *slog.Logger
}

// Server is a running PostgreSQL server, a child of this process.
type Server struct {
	url     string
	dataDir string
	logPath string
	log     *slog.Logger

	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopping atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

// URL is the connection URL of the captionai database.
func (s *Server) URL() string { return s.url }

// Done is closed when the server process has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Start creates the cluster if needed, starts the server and waits until the
// captionai database accepts connections. ctx bounds start-up only; the
// server runs until Stop.
func Start(ctx context.Context, o Options) (*Server, error) {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	if o.DataDir == "" {
		return nil, errors.New("embedded postgres: Options.DataDir is empty")
	}
	if o.Port <= 0 || o.Port > 65535 {
		return nil, fmt.Errorf("embedded postgres: port %d is not a valid TCP port; set EMBEDDED_PG_PORT", o.Port)
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("embedded postgres: %w", err)
	}

	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	binDir, err := findBinDir(o.BinDir, dataDir)
	if err != nil {
		return nil, err
	}
	version, err := serverVersion(binDir, acct)
	if err != nil {
		return nil, err
	}
	if err := prepareParents(dataDir, acct); err != nil {
		return nil, err
	}

	clusterVersion, err := readClusterVersion(dataDir)
	if err != nil {
		return nil, err
	}
	if clusterVersion == "" {
		log.Info("creating postgres cluster", "dir", dataDir, "bin", binDir, "version", version, "user", acct.String())
		if err := initCluster(binDir, dataDir, acct, log); err != nil {
			return nil, err
		}
	} else if clusterVersion != version {
		return nil, fmt.Errorf("embedded postgres: %s holds a PostgreSQL %s cluster but %s has PostgreSQL %s; "+
			"set PG_BIN_DIR to the PostgreSQL %s binaries (e.g. /usr/lib/postgresql/%s/bin, from Debian's postgresql-%s package), "+
			"or upgrade the cluster with pg_upgrade, or set DATABASE_URL",
			dataDir, clusterVersion, binDir, version, clusterVersion, clusterVersion, clusterVersion)
	}
	if err := fixOwnership(dataDir, acct); err != nil {
		return nil, err
	}
	if err := clearLeftovers(dataDir, log); err != nil {
		return nil, err
	}
	if err := checkPortFree(o.Port); err != nil {
		return nil, err
	}

	s := &Server{
		url:     fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, o.Port, database),
		dataDir: dataDir,
		logPath: filepath.Join(dataDir, logFileName),
		log:     log,
		done:    make(chan struct{}),
	}
	if err := s.launch(binDir, o.Port, acct); err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, o.Port); err != nil {
		_ = s.Stop()
		return nil, err
	}
	if err := s.ensureDatabase(ctx, o.Port); err != nil {
		_ = s.Stop()
		return nil, err
	}
	log.Info("embedded postgres ready", "addr", fmt.Sprintf("127.0.0.1:%d", o.Port), "dir", dataDir,
		"pid", s.cmd.Process.Pid, "log", s.logPath)
	return s, nil
}

// launch starts the postmaster with its output appended to the log file.
func (s *Server) launch(binDir string, port int, acct *account) error {
	logFile, err := openLog(s.logPath, acct)
	if err != nil {
		return err
	}
	// The child keeps its own descriptor; ours is not needed after Start.
	defer logFile.Close()

	// The socket lives in the private data dir rather than
	// /var/run/postgresql, which the server user may not be able to write.
	sockDirs := `"` + s.dataDir + `"`
	if len(s.dataDir)+len("/.s.PGSQL.")+len(strconv.Itoa(port)) > maxSocketPath || strings.Contains(s.dataDir, `"`) {
		s.log.Info("data dir path too long for a unix socket; embedded postgres listens on TCP only", "dir", s.dataDir)
		sockDirs = ""
	}
	cmd := acct.command(filepath.Join(binDir, "postgres"),
		"-D", s.dataDir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+sockDirs,
		"-c", "logging_collector=off",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group: a terminal's Ctrl-C reaches only the app, which
	// then stops the server in order.
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("embedded postgres: starting %s: %w", cmd.Path, err)
	}
	s.cmd = cmd
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
		if !s.stopping.Load() {
			s.log.Error("embedded postgres exited unexpectedly", "err", s.waitErr, "log", s.logPath)
		}
	}()
	return nil
}

// waitReady polls until the server accepts connections, it exits, or the
// time is up.
func (s *Server) waitReady(ctx context.Context, port int) error {
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for {
		conn, err := s.connect(ctx, port, "postgres")
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		lastErr = err
		select {
		case <-s.done:
			tail := logTail(s.logPath)
			if strings.Contains(tail, "Address already in use") {
				return portInUseError(port, errors.New("postgres could not bind it"))
			}
			return fmt.Errorf("embedded postgres exited during start-up (%v); end of %s:\n%s", s.waitErr, s.logPath, tail)
		case <-ctx.Done():
			return fmt.Errorf("embedded postgres: start-up cancelled: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("embedded postgres did not accept connections on 127.0.0.1:%d within %s (last error: %v); end of %s:\n%s",
				port, readyTimeout, lastErr, s.logPath, logTail(s.logPath))
		}
	}
}

func (s *Server) connect(ctx context.Context, port int, db string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, port, db))
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = 2 * time.Second
	return pgx.ConnectConfig(ctx, cfg)
}

func (s *Server) ensureDatabase(ctx context.Context, port int) error {
	conn, err := s.connect(ctx, port, "postgres")
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", database).Scan(&exists); err != nil {
		return fmt.Errorf("embedded postgres: looking up database %s: %w", database, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{database}.Sanitize()); err != nil {
		return fmt.Errorf("embedded postgres: creating database %s: %w", database, err)
	}
	s.log.Info("created database", "name", database)
	return nil
}

// Stop shuts the server down with a fast shutdown (SIGINT: clients are
// disconnected, a checkpoint is written) and waits for it to exit. It is safe
// to call more than once.
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	s.stopping.Store(true)
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	pid := s.cmd.Process.Pid
	begin := time.Now()
	_ = syscall.Kill(pid, syscall.SIGINT)
	if s.waitExit(stopTimeout) {
		s.log.Info("embedded postgres stopped", "took", time.Since(begin).Round(time.Millisecond))
		return nil
	}
	s.log.Warn("embedded postgres ignored fast shutdown; sending immediate shutdown", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	if s.waitExit(5 * time.Second) {
		return nil
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if s.waitExit(5 * time.Second) {
		return fmt.Errorf("embedded postgres (pid %d) had to be killed", pid)
	}
	return fmt.Errorf("embedded postgres (pid %d) did not exit", pid)
}

func (s *Server) waitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.done:
		return true
	case <-t.C:
		return false
	}
}

// checkPortFree fails early, with a message that names the setting, when
// another program holds the port.
func checkPortFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return portInUseError(port, err)
		}
		return fmt.Errorf("embedded postgres: cannot listen on 127.0.0.1:%d: %w; set EMBEDDED_PG_PORT to another port", port, err)
	}
	return l.Close()
}

func portInUseError(port int, err error) error {
	return fmt.Errorf("embedded postgres: port %d on 127.0.0.1 is already in use by another program; "+
		"set EMBEDDED_PG_PORT to a free port, or set DATABASE_URL to use an existing Postgres (%w)", port, err)
}

// openLog opens the server log for appending, setting a large one aside first.
func openLog(path string, acct *account) (*os.File, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLogSize {
		_ = os.Rename(path, path+".1")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded postgres: opening log: %w", err)
	}
	if err := acct.chown(path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// logTail returns the last lines of a log file, for error messages.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	const max = 4096
	var off int64
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		off = fi.Size() - max
	}
	buf := make([]byte, max)
	n, _ := f.ReadAt(buf, off)
	text := string(buf[:n])
	if off > 0 {
		// Drop the partial first line.
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:]
		}
	}
	return lastLines(text, 20)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
