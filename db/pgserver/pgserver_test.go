package pgserver

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"captionai/config"
)

// tempDir returns a fresh directory that the unprivileged server user can
// reach when the tests run as root (t.TempDir makes 0700 directories).
func tempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if os.Geteuid() == 0 {
		root := filepath.Clean(os.TempDir())
		for p := d; strings.HasPrefix(p, root+"/"); p = filepath.Dir(p) {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return d
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func start(t *testing.T, dir string, port int) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{DataDir: dir, Port: port, Log: testLogger(t)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func connect(t *testing.T, s *Server) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.URL())
	if err != nil {
		t.Fatalf("connect %s: %v", s.URL(), err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func postmasterPid(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil && !isZombie(pid)
}

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(tempDir(t), "data", "postgres")
	port := freePort(t)
	ctx := context.Background()

	s := start(t, dir, port)
	want := fmt.Sprintf("postgres://captionai@127.0.0.1:%d/captionai?sslmode=disable", port)
	if s.URL() != want {
		t.Errorf("URL = %q, want %q", s.URL(), want)
	}
	conn := connect(t, s)
	var user, db, enc, listen string
	if err := conn.QueryRow(ctx, "SELECT current_user, current_database(), current_setting('server_encoding'), current_setting('listen_addresses')").
		Scan(&user, &db, &enc, &listen); err != nil {
		t.Fatal(err)
	}
	if user != "captionai" || db != "captionai" || enc != "UTF8" || listen != "127.0.0.1" {
		t.Errorf("got user=%s db=%s encoding=%s listen=%s", user, db, enc, listen)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE notes (id int PRIMARY KEY, body text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO notes VALUES (1, 'héllo')"); err != nil {
		t.Fatal(err)
	}

	pid := postmasterPid(t, dir)
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("postmaster %d is in process group %d (%v), want its own", pid, pgid, err)
	}
	if os.Geteuid() == 0 {
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid == 0 {
			t.Errorf("data dir is owned by root; the server must run unprivileged")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", port))); err != nil {
		t.Errorf("unix socket in the data dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, logFileName)); err != nil {
		t.Errorf("server log: %v", err)
	}

	begin := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("stop took %s", time.Since(begin))
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	select {
	case <-s.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("postmaster.pid after Stop: %v", err)
	}
	if alive(pid) {
		t.Errorf("postmaster %d still alive after Stop", pid)
	}

	s2 := start(t, dir, port)
	var body string
	if err := connect(t, s2).QueryRow(ctx, "SELECT body FROM notes WHERE id = 1").Scan(&body); err != nil {
		t.Fatal(err)
	}
	if body != "héllo" {
		t.Errorf("body = %q", body)
	}
	if err := s2.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestLongPath covers a data dir too long for a unix socket (the server
// then listens on TCP only) that already exists, empty, as a mounted volume
// would.
func TestLongPath(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(tempDir(t), strings.Repeat("d", 100))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := start(t, dir, freePort(t))
	var sockets, ctype string
	if err := connect(t, s).QueryRow(context.Background(), "SELECT current_setting('unix_socket_directories'), current_setting('lc_ctype')").
		Scan(&sockets, &ctype); err != nil {
		t.Fatal(err)
	}
	if sockets != "" {
		t.Errorf("unix_socket_directories = %q, want none", sockets)
	}
	t.Logf("lc_ctype = %s", ctype)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestStalePidFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(tempDir(t), "pg")
	port := freePort(t)
	first := start(t, dir, port)
	// A second copy of the program must not take the running server away.
	if _, err := Start(context.Background(), Options{DataDir: dir, Port: freePort(t), Log: testLogger(t)}); err == nil ||
		!strings.Contains(err.Error(), "running copy of this program") || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d/", port)) {
		t.Fatalf("second Start on a live data dir: %v", err)
	} else {
		t.Log(err)
	}
	if err := connect(t, first).Ping(context.Background()); err != nil {
		t.Fatalf("first server hurt by second Start: %v", err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	// A live process of the server's user that is not postgres, as when a
	// reboot hands the pid to something else; postgres alone refuses to
	// start on such a lock file.
	acct, err := serverAccount()
	if err != nil {
		t.Fatal(err)
	}
	other := acct.command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })

	for name, pid := range map[string]int{"dead": dead.Process.Pid, "reused": other.Process.Pid} {
		pidFile := fmt.Sprintf("%d\n%s\n1700000000\n%d\n%s\n127.0.0.1\n  %d001 12345\nready   \n", pid, dir, port, dir, port)
		if err := os.WriteFile(filepath.Join(dir, "postmaster.pid"), []byte(pidFile), 0o600); err != nil {
			t.Fatal(err)
		}
		lock := filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d.lock", port))
		if err := os.WriteFile(lock, []byte(pidFile), 0o600); err != nil {
			t.Fatal(err)
		}
		s := start(t, dir, port)
		if err := connect(t, s).Ping(context.Background()); err != nil {
			t.Fatalf("%s pid: %v", name, err)
		}
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPortInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	s, err := Start(context.Background(), Options{DataDir: filepath.Join(tempDir(t), "pg"), Port: port, Log: testLogger(t)})
	if err == nil {
		s.Stop()
		t.Fatal("Start succeeded on a busy port")
	}
	msg := err.Error()
	if !strings.Contains(msg, strconv.Itoa(port)) || !strings.Contains(msg, "EMBEDDED_PG_PORT") || !strings.Contains(msg, "in use") {
		t.Errorf("unclear error: %v", err)
	}
	t.Log(err)
}

// TestKilledApp kills -9 a process that started a server, as when the app
// dies, and checks that the next Start takes over the orphaned postgres.
func TestKilledApp(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(tempDir(t), "pg")
	port := freePort(t)

	app := exec.Command(os.Args[0], "-test.run=^TestHelperApp$")
	app.Env = append(os.Environ(), "PGSERVER_HELPER_DIR="+dir, "PGSERVER_HELPER_PORT="+strconv.Itoa(port))
	app.Stderr = os.Stderr
	out, err := app.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if sc.Text() == "READY" {
			ready = true
			break
		}
	}
	if !ready {
		_ = app.Process.Kill()
		_ = app.Wait()
		t.Fatal("helper app did not start its server")
	}
	_ = app.Process.Kill()
	_ = app.Wait()

	orphan := postmasterPid(t, dir)
	if !alive(orphan) {
		t.Fatalf("postmaster %d died with the app; expected it to outlive a kill -9", orphan)
	}
	t.Cleanup(func() { _ = syscall.Kill(orphan, syscall.SIGQUIT) })

	s := start(t, dir, port)
	var n int
	if err := connect(t, s).QueryRow(context.Background(), "SELECT count(*) FROM from_helper").Scan(&n); err != nil || n != 1 {
		t.Fatalf("row written before the kill: n=%d err=%v", n, err)
	}
	if alive(orphan) {
		t.Errorf("orphaned postmaster %d still alive", orphan)
	}
	if pid := postmasterPid(t, dir); pid == orphan {
		t.Errorf("server was not restarted as our child")
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestHelperApp is the app that TestKilledApp kills.
func TestHelperApp(t *testing.T) {
	dir := config.Test().PGServerHelperDir
	if dir == "" {
		t.Skip("helper process for TestKilledApp")
	}
	port, _ := strconv.Atoi(config.Test().PGServerHelperPort)
	s, err := Start(context.Background(), Options{DataDir: dir, Port: port, Log: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	conn, err := pgx.Connect(context.Background(), s.URL())
	if err == nil {
		_, err = conn.Exec(context.Background(), "CREATE TABLE from_helper AS SELECT 1 AS x")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("READY")
	time.Sleep(time.Hour)
}

func TestMissingBinaries(t *testing.T) {
	empty := tempDir(t)
	_, err := Start(context.Background(), Options{DataDir: filepath.Join(empty, "pg"), Port: 5499, BinDir: empty})
	if err == nil || !strings.Contains(err.Error(), "PG_BIN_DIR="+empty) || !strings.Contains(err.Error(), "postgresql package") {
		t.Errorf("unclear error: %v", err)
	}

	// The default search lists what it tried.
	t.Setenv("PATH", empty)
	saved := debianRoot
	debianRoot = filepath.Join(empty, "usr/lib/postgresql")
	defer func() { debianRoot = saved }()
	_, err = findBinDir("", filepath.Join(empty, "pg"))
	if err == nil || !strings.Contains(err.Error(), debianRoot+"/*/bin") || !strings.Contains(err.Error(), "on PATH") ||
		!strings.Contains(err.Error(), "postgresql package") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("unclear error: %v", err)
	}
	t.Log(err)
}

func TestUnreachableDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands the server to another user")
	}
	t.Parallel()
	private := filepath.Join(tempDir(t), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{DataDir: filepath.Join(private, "data", "pg"), Port: 5499, Log: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "cannot enter "+private) || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("unclear error: %v", err)
	}
	t.Log(err)
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		x, y string
		sign int
	}{{"15", "9.6", 1}, {"9.6", "10", -1}, {"16", "16", 0}, {"9.6", "9.5", 1}} {
		got := compareVersions(c.x, c.y)
		if (got > 0) != (c.sign > 0) || (got < 0) != (c.sign < 0) {
			t.Errorf("compareVersions(%s, %s) = %d", c.x, c.y, got)
		}
	}
}
