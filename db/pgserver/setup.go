package pgserver

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// account is the unprivileged user that runs initdb and the server when the
// app runs as root. A nil *account means "run as ourselves".
type account struct {
	name     string
	uid, gid uint32
	groups   []uint32
	home     string
}

// serverAccount picks the user the server runs as: nil unless we are root,
// because PostgreSQL refuses to run as root.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		a := &account{name: name, uid: uint32(uid), gid: uint32(gid), home: u.HomeDir}
		ids, _ := u.GroupIds()
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				a.groups = append(a.groups, uint32(g))
			}
		}
		if !slices.Contains(a.groups, a.gid) {
			a.groups = append(a.groups, a.gid)
		}
		return a, nil
	}
	return nil, errors.New("embedded postgres: the app runs as root, which PostgreSQL refuses, and neither user postgres nor nobody exists to run it instead; " +
		"install Debian's postgresql package (it creates user postgres), run the app as a normal user, or set DATABASE_URL")
}

func (a *account) String() string {
	if a == nil {
		if u, err := user.Current(); err == nil {
			return u.Username
		}
		return strconv.Itoa(os.Geteuid())
	}
	return a.name
}

// command prepares a command that runs as the account. Its working directory
// is / because ours may be one the account cannot enter (initdb fails then).
func (a *account) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if a != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
		cmd.Env = append(os.Environ(), "HOME="+a.home, "USER="+a.name, "LOGNAME="+a.name)
	}
	return cmd
}

func (a *account) chown(path string) error {
	if a == nil {
		return nil
	}
	if err := os.Lchown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("embedded postgres: giving %s to user %s: %w", path, a.name, err)
	}
	return nil
}

// canEnter reports whether the account may search (enter) a directory, by
// the usual owner/group/other permission bits.
func (a *account) canEnter(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == a.uid:
		return perm&0o100 != 0
	case slices.Contains(a.groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// checkReachable fails with advice when the account cannot pass through
// every directory from / down to dir.
func (a *account) checkReachable(dir, dataDir string) error {
	if a == nil {
		return nil
	}
	chains := [][]string{ancestors(dir)}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		chains = append(chains, ancestors(real))
	}
	for _, chain := range chains {
		for _, p := range chain {
			fi, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("embedded postgres: %w", err)
			}
			if a.canEnter(fi) {
				continue
			}
			owner := "?"
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				owner = strconv.FormatUint(uint64(st.Uid), 10)
				if u, err := user.LookupId(owner); err == nil {
					owner = u.Username
				}
			}
			return fmt.Errorf("embedded postgres: the app runs as root, so PostgreSQL must run as user %s, "+
				"but %s cannot enter %s (mode %#o, owner %s) on the way to the data dir %s. "+
				"Set DATABASE_URL, or move the project (or DATA_DIR) out of %s which user %s cannot enter, "+
				"or let it pass with: chmod o+x %s",
				a.name, a.name, p, uint32(fi.Mode().Perm()), owner, dataDir, p, a.name, p)
		}
	}
	return nil
}

// ancestors lists / down to dir.
func ancestors(dir string) []string {
	var out []string
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		out = append(out, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	slices.Reverse(out)
	return out
}

// prepareParents checks that the account can reach the data dir's parent
// and creates the missing parents.
func prepareParents(dataDir string, a *account) error {
	parent := filepath.Dir(dataDir)
	existing := parent
	var missing []string
	for {
		_, err := os.Stat(existing)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || existing == filepath.Dir(existing) {
			return fmt.Errorf("embedded postgres: %w", err)
		}
		missing = append(missing, existing)
		existing = filepath.Dir(existing)
	}
	if err := a.checkReachable(existing, dataDir); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("embedded postgres: %w", err)
		}
		if a != nil {
			// Whatever the umask, the server user must pass through.
			if err := os.Chmod(missing[i], 0o755); err != nil {
				return fmt.Errorf("embedded postgres: %w", err)
			}
		}
	}
	return a.checkReachable(parent, dataDir)
}

// debianRoot is where Debian installs each major version's binaries.
var debianRoot = "/usr/lib/postgresql"

// findBinDir locates the directory holding initdb and postgres.
func findBinDir(explicit, dataDir string) (string, error) {
	if explicit != "" { // the app's PG_BIN_DIR
		if hasServerBins(explicit) {
			return explicit, nil
		}
		return "", fmt.Errorf("embedded postgres: PG_BIN_DIR=%s has no initdb and postgres; "+
			"install Debian's postgresql package, fix PG_BIN_DIR, or set DATABASE_URL", explicit)
	}

	var searched []string
	try := func(dir string) bool {
		if slices.Contains(searched, dir) {
			return false
		}
		searched = append(searched, dir)
		return hasServerBins(dir)
	}
	// An existing cluster needs the major version that created it.
	if v, _ := readClusterVersion(dataDir); v != "" {
		if d := filepath.Join(debianRoot, v, "bin"); try(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(debianRoot, "*", "bin"))
	slices.SortFunc(dirs, func(x, y string) int { // newest first
		return compareVersions(filepath.Base(filepath.Dir(y)), filepath.Base(filepath.Dir(x)))
	})
	if len(dirs) == 0 {
		searched = append(searched, filepath.Join(debianRoot, "*", "bin"))
	}
	for _, d := range dirs {
		if try(d) {
			return d, nil
		}
	}
	for _, name := range []string{"pg_ctl", "postgres"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if try(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && try(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
	}
	searched = append(searched, "pg_ctl and postgres on PATH")
	return "", fmt.Errorf("embedded postgres: no PostgreSQL server binaries (initdb and postgres) found; searched %s. "+
		"Install Debian's postgresql package (apt-get install postgresql), set PG_BIN_DIR to their directory, "+
		"or set DATABASE_URL to use an existing Postgres", strings.Join(searched, ", "))
}

func hasServerBins(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// compareVersions orders dotted numbers such as "9.6" and "15".
func compareVersions(x, y string) int {
	xs, ys := strings.Split(x, "."), strings.Split(y, ".")
	for i := 0; i < max(len(xs), len(ys)); i++ {
		var a, b int
		if i < len(xs) {
			a, _ = strconv.Atoi(xs[i])
		}
		if i < len(ys) {
			b, _ = strconv.Atoi(ys[i])
		}
		if a != b {
			return a - b
		}
	}
	return 0
}

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)(?:\.(\d+))?`)

// serverVersion returns the major version of the server binary in the form
// PG_VERSION uses ("15", "9.6"). Running it as the account also proves the
// account may execute it.
func serverVersion(binDir string, a *account) (string, error) {
	bin := filepath.Join(binDir, "postgres")
	out, err := a.command(bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("embedded postgres: user %s cannot run %s --version: %v %s; "+
			"make it executable for that user, set PG_BIN_DIR, or set DATABASE_URL",
			a.String(), bin, err, strings.TrimSpace(string(out)))
	}
	m := versionRE.FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("embedded postgres: unexpected output of %s --version: %q", bin, out)
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 && m[2] != "" {
		return m[1] + "." + m[2], nil
	}
	return m[1], nil
}

// readClusterVersion returns the content of PG_VERSION, or "" when dataDir
// holds no cluster yet. A non-empty directory that is no cluster is an error:
// initdb would refuse it and we must not guess.
func readClusterVersion(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("embedded postgres: %w", err)
	}
	entries, err := os.ReadDir(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("embedded postgres: %w", err)
	}
	if len(entries) > 0 {
		return "", fmt.Errorf("embedded postgres: %s is not empty but holds no PostgreSQL cluster (no PG_VERSION); "+
			"empty it, point DATA_DIR elsewhere, or set DATABASE_URL", dataDir)
	}
	return "", nil
}

// initCluster runs initdb. A new data dir is built beside its final place and
// renamed into it, so an interrupted first run leaves no half-made cluster.
func initCluster(binDir, dataDir string, a *account, log *slog.Logger) error {
	target := dataDir
	if _, err := os.Stat(dataDir); errors.Is(err, fs.ErrNotExist) {
		target = filepath.Join(filepath.Dir(dataDir), "."+filepath.Base(dataDir)+".initdb")
		if err := os.RemoveAll(target); err != nil {
			return fmt.Errorf("embedded postgres: %w", err)
		}
		if err := os.Mkdir(target, 0o700); err != nil {
			return fmt.Errorf("embedded postgres: %w", err)
		}
	}
	if err := a.chown(target); err != nil {
		return err
	}
	// C.UTF-8 gives Unicode-aware upper/lower; plain C is the fallback on
	// systems without that locale.
	var out []byte
	var err error
	for _, loc := range []string{"C.UTF-8", "C"} {
		cmd := a.command(filepath.Join(binDir, "initdb"),
			"-D", target, "-U", superuser, "-E", "UTF8", "--locale="+loc,
			"--auth-local=trust", "--auth-host=trust")
		out, err = cmd.CombinedOutput()
		if err == nil {
			break
		}
		if loc != "C" && strings.Contains(string(out), "locale") {
			log.Warn("initdb failed with locale C.UTF-8, retrying with C", "output", lastLines(string(out), 3))
			continue
		}
		break
	}
	if err != nil {
		if target != dataDir {
			_ = os.RemoveAll(target)
		}
		return fmt.Errorf("embedded postgres: initdb as user %s failed (%v):\n%s", a.String(), err, lastLines(string(out), 20))
	}
	if target != dataDir {
		if err := os.Rename(target, dataDir); err != nil {
			return fmt.Errorf("embedded postgres: %w", err)
		}
	}
	return nil
}

// fixOwnership makes the cluster owned by the account and private, as the
// server demands; a copy or an earlier run as another user may differ.
func fixOwnership(dataDir string, a *account) error {
	fi, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	if fi.Mode().Perm()&^0o750 != 0 {
		if err := os.Chmod(dataDir, 0o700); err != nil {
			return fmt.Errorf("embedded postgres: %w", err)
		}
	}
	if a == nil {
		return nil
	}
	return filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && (st.Uid != a.uid || st.Gid != a.gid) {
			return a.chown(path)
		}
		return nil
	})
}
