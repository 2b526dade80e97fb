// Package config reads CaptionAI's settings from the environment. Vars is
// the one table of them: Load, Defaults and --help are driven by it, and a
// test checks README.md's configuration table against it.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/realclientip/realclientip-go"
)

// Config holds every setting of the app.
type Config struct {
	DatabaseURL     string        // empty: run an embedded Postgres under DataDir
	DataDir         string        // embedded Postgres data and other local state
	Addr            string        // HTTP listen address
	MetricsAddr     string        // Prometheus /metrics listen address; empty: none
	MediaDir        string        // uploaded files
	StorageURL      string        // s3://BUCKET?... or file:///PATH; empty: MediaDir
	ModelDir        string        // captioning model (Optimum VisionEncoderDecoder layout)
	Models          []string      // installed models: Models[0] stands for ModelDir, the rest are loaded beside it
	EngineKind      string        // remote caption engine, "openai" or "ollama"; empty: none
	EngineURL       string        // the engine's base URL
	EngineModel     string        // the engine's model
	EnginePrompt    string        // what the engine is asked
	EngineKey       string        // Bearer token for an OpenAI engine
	EngineTimeout   time.Duration // longest wait for the engine's answer
	NSFWModel       string        // NSFW classifier for the upload check; empty: none
	NSFWHold        float64       // hold an upload for review when porn, sexy or hentai scores this much
	ORTLib          string        // path to libonnxruntime.so
	Workers         int           // ONNX sessions, and so concurrent caption jobs
	ThreadsPerJob   int           // intra-op threads per ONNX session
	MaxUploadBytes  int64         // per file
	MaxPixels       int64         // width*height, checked before decoding
	MaxFiles        int           // files per upload request
	JobTimeout      time.Duration // one caption job
	RescueAfter     time.Duration // a running job older than this is presumed orphaned by a dead worker
	EmbeddedPGPort  int           // TCP port of the embedded Postgres (loopback only)
	PGBinDir        string        // initdb and postgres for the embedded Postgres; empty: search
	PublicURL       string        // how users reach the app; links in email, Secure cookies when https
	SMTPURL         string        // empty: log mail instead of sending it
	MailFrom        string
	AdminEmails     []string      // verified accounts with these addresses are admins
	GuestRetention  time.Duration // unclaimed guest uploads are deleted after this
	GuestUploads    int           // guest uploads per IP address per hour
	TrustedProxies  []net.IPNet   // reverse proxies whose X-Forwarded-For is believed
	OperatorName    string        // who runs this server, named on /terms and /privacy
	OperatorContact string        // how to reach them: an email address or a URL; empty: none given
}

// The pinned ONNX Runtime lives in ort.env, which the Taskfile and the
// scripts read too, so the version is written down once.
//
//go:embed ort.env
var ortEnv string

var (
	ORTVersion = pinned("ORT_VERSION") // onnxruntime-node npm package version
	ORTSHA256  = pinned("ORT_SHA256")  // of its linux-x64 libonnxruntime.so.1
	// DefaultORTLib is where `go tool task ort` puts the pinned library.
	DefaultORTLib = "./.cache/onnxruntime/" + ORTVersion + "/libonnxruntime.so.1"
)

func pinned(key string) string {
	for _, line := range strings.Split(ortEnv, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok && v != "" {
			return v
		}
	}
	panic("config/ort.env sets no " + key)
}

// Var is one environment variable: how it is documented and how it is read.
type Var struct {
	Name string
	// Default is the value used when the variable is unset ("" for none).
	// Where derive computes the default, Default describes the rule instead,
	// in markdown as README.md shows it.
	Default string
	Help    string // markdown, as README.md shows it

	derive func(c *Config) string // default from variables read earlier in Vars
	set    setter
}

// A setter parses v into its Config field. Its error names the variable.
type setter func(c *Config, name, v string) error

// Vars lists the variables Load reads, in display order. An entry with a
// derived default comes after the variables it is derived from.
var Vars = []Var{
	{Name: "DATABASE_URL",
		Help: "Postgres URL. Unset: run an embedded Postgres from the machine's binaries under `DATA_DIR/postgres`",
		set:  text(func(c *Config, v string) { c.DatabaseURL = v })},
	{Name: "DATA_DIR", Default: "./data",
		Help: "local state: the embedded Postgres cluster",
		set:  text(func(c *Config, v string) { c.DataDir = v })},
	{Name: "ADDR", Default: "127.0.0.1:8080",
		Help: "HTTP listen address",
		set:  text(func(c *Config, v string) { c.Addr = v })},
	{Name: "METRICS_ADDR",
		Help: "listen address of Prometheus metrics at `/metrics` (for example `127.0.0.1:9090`), apart from `ADDR` and without its sign-in: keep it where only your monitoring reaches. Unset: no metrics",
		set:  text(func(c *Config, v string) { c.MetricsAddr = v })},
	{Name: "MEDIA_DIR", Default: "`DATA_DIR/media`",
		Help:   "where uploaded images are stored",
		derive: func(c *Config) string { return strings.TrimRight(c.DataDir, "/") + "/media" },
		set:    text(func(c *Config, v string) { c.MediaDir = v })},
	{Name: "STORAGE_URL",
		Help: "where uploaded images are stored instead: `s3://BUCKET?endpoint=https://HOST&region=REGION` for S3 or an S3-compatible server (path-style requests to `endpoint`; without it, AWS), with credentials from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (or the AWS SDK's other sources), or `file:///PATH`. Unset: `MEDIA_DIR`. `captionai storage copy --to URL` moves an existing library",
		set:  setStorageURL},
	{Name: "MODEL_DIR", Default: "./models/captionai",
		Help: "captioning model directory (`onnx/`, `config.json`, `tokenizer.json`, ...)",
		set:  text(func(c *Config, v string) { c.ModelDir = v })},
	{Name: "MODELS", Default: "`MODEL_DIR`",
		Help:   "comma-separated captioning model directories, each named by its folder, that an image's owner may pick from for a new caption (the image page offers the choice when there are several); `MODEL_DIR` is the default and comes first (added if missing). Each is loaded with `WORKERS` sessions",
		derive: func(c *Config) string { return c.ModelDir },
		set:    setModels},
	{Name: "CAPTION_ENGINE_URL",
		Help: "a remote captioning engine, which then writes captions by default (the models of `MODELS` stay available): `openai+https://HOST` for an OpenAI-compatible chat completions API (`POST /v1/chat/completions`) or `ollama+http://HOST:11434` for Ollama (`POST /api/generate`). When it cannot be reached (no connection, no answer within `CAPTION_ENGINE_TIMEOUT`, a 5xx, 408 or 429 answer), `MODEL_DIR`'s model writes the caption at once and the model shown says so, e.g. `captionai (fallback: ollama:llava unreachable)`; other engine errors are retried by River, and its last attempt falls back too. Unset: no engine",
		set:  setEngineURL},
	{Name: "CAPTION_ENGINE_MODEL",
		Help: "the engine's vision model, for example `gpt-4o-mini` or `llava`; required with `CAPTION_ENGINE_URL`",
		set:  text(func(c *Config, v string) { c.EngineModel = v })},
	{Name: "CAPTION_ENGINE_PROMPT", Default: "One sentence, active voice, main subject first.",
		Help: "what the engine is asked, with the photo",
		set:  text(func(c *Config, v string) { c.EnginePrompt = v })},
	{Name: "CAPTION_ENGINE_KEY",
		Help: "API key of an `openai+` engine, sent as `Authorization: Bearer KEY`; Ollama is sent none",
		set:  text(func(c *Config, v string) { c.EngineKey = v })},
	{Name: "CAPTION_ENGINE_TIMEOUT", Default: "30s",
		Help: "longest wait for the engine's answer, after which the caption falls back to `MODEL_DIR`'s model; shorter than `JOB_TIMEOUT`, which bounds the fallback too",
		set:  duration(func(c *Config, d time.Duration) { c.EngineTimeout = d })},
	{Name: "NSFW_MODEL", Default: DefaultNSFWModel,
		Help: "NSFW classifier (nsfwjs's MobileNetV2: `model.onnx`, `config.json`) that checks every upload; `off` checks nothing. A worker that does not find the default runs without the check and logs a warning; another missing path is an error",
		set: text(func(c *Config, v string) {
			if strings.EqualFold(v, "off") {
				v = ""
			}
			c.NSFWModel = v
		})},
	{Name: "NSFW_HOLD", Default: "0.99",
		Help: "an upload whose porn, sexy or hentai probability reaches this is held for review: only its owner and staff see it until a moderator approves it. The default holds none of Flickr8k's 8,091 photos (the highest scores 0.976); `0` holds every upload, above `1` none",
		set:  setNSFWHold},
	{Name: "ORT_LIB", Default: DefaultORTLib,
		Help: "ONNX Runtime shared library (`go tool task ort` fetches the version pinned in `config/ort.env`)",
		set:  text(func(c *Config, v string) { c.ORTLib = v })},
	{Name: "WORKERS", Default: "number of CPUs",
		Help:   "ONNX sessions per worker process, which is also the caption jobs run at once",
		derive: func(*Config) string { return strconv.Itoa(runtime.NumCPU()) },
		set:    positive(func(c *Config, n int) { c.Workers = n })},
	{Name: "THREADS_PER_JOB", Default: "1",
		Help: "intra-op threads of each ONNX session",
		set:  positive(func(c *Config, n int) { c.ThreadsPerJob = n })},
	{Name: "MAX_UPLOAD_MB", Default: "20",
		Help: "largest accepted file, in MB",
		set:  positive(func(c *Config, n int) { c.MaxUploadBytes = int64(n) << 20 })},
	{Name: "MAX_MEGAPIXELS", Default: "50",
		Help: "largest accepted image, in megapixels (read from the header before decoding)",
		set:  positive(func(c *Config, n int) { c.MaxPixels = int64(n) * 1_000_000 })},
	{Name: "MAX_FILES", Default: "20",
		Help: "most files in one upload",
		set:  positive(func(c *Config, n int) { c.MaxFiles = n })},
	{Name: "JOB_TIMEOUT", Default: "1m",
		Help: "time limit of one caption job",
		set:  duration(func(c *Config, d time.Duration) { c.JobTimeout = d })},
	{Name: "RESCUE_AFTER", Default: "`JOB_TIMEOUT + 30s`",
		Help:   "a job running this long is presumed orphaned by a dead worker and run again",
		derive: func(c *Config) string { return (c.JobTimeout + 30*time.Second).String() },
		set:    duration(func(c *Config, d time.Duration) { c.RescueAfter = d })},
	{Name: "EMBEDDED_PG_PORT", Default: "5488",
		Help: "loopback port of the embedded Postgres",
		set:  positive(func(c *Config, n int) { c.EmbeddedPGPort = n })},
	{Name: "PG_BIN_DIR",
		Help: "directory of the PostgreSQL server binaries (`initdb`, `postgres`) for the embedded Postgres. Unset: found under `/usr/lib/postgresql/*/bin` (the existing cluster's major version, else the newest), else `pg_ctl` or `postgres` on PATH",
		set:  text(func(c *Config, v string) { c.PGBinDir = v })},
	{Name: "PUBLIC_URL", Default: "`http://ADDR`",
		Help:   "how users reach the app: links in email; `https://` makes cookies Secure",
		derive: func(c *Config) string { return "http://" + c.Addr },
		set:    text(func(c *Config, v string) { c.PublicURL = strings.TrimRight(v, "/") })},
	{Name: "SMTP_URL",
		Help: "mail server, `smtp://user:pass@host:587` (STARTTLS when offered) or `smtps://host:465`. Unset: mail is logged, not sent",
		set:  text(func(c *Config, v string) { c.SMTPURL = v })},
	{Name: "MAIL_FROM", Default: "CaptionAI <noreply@localhost>",
		Help: "sender of password reset mail",
		set:  text(func(c *Config, v string) { c.MailFrom = v })},
	{Name: "ADMIN_EMAILS",
		Help: "comma-separated addresses whose accounts become admins once the address is verified; an address taken off the list loses the role it gave at the next start. `captionai admin grant` is the other way to make admins",
		set:  text(setAdminEmails)},
	{Name: "GUEST_RETENTION_DAYS", Default: "7",
		Help: "unclaimed guest uploads are deleted after this many days",
		set:  positive(func(c *Config, n int) { c.GuestRetention = time.Duration(n) * 24 * time.Hour })},
	{Name: "GUEST_UPLOADS_PER_HOUR", Default: "20",
		Help: "photos a guest may upload per hour from one IP address",
		set:  positive(func(c *Config, n int) { c.GuestUploads = n })},
	{Name: "OPERATOR_NAME", Default: "the operator of this server",
		Help: "who runs this server (a person or an organisation), named on `/terms` and `/privacy` as the one responsible for the photos and data it keeps",
		set:  text(func(c *Config, v string) { c.OperatorName = strings.TrimSpace(v) })},
	{Name: "OPERATOR_CONTACT",
		Help: "how people reach the operator about their data or a photo, shown on `/terms` and `/privacy`: an email address (`privacy@example.org`, shown as a mail link) or an `https://` URL. Unset: the pages say that no contact was given",
		set:  text(func(c *Config, v string) { c.OperatorContact = strings.TrimSpace(v) })},
	{Name: "TRUSTED_PROXIES",
		Help: "comma-separated addresses or CIDR ranges of your reverse proxies; requests from them are counted by the client address in X-Forwarded-For (the rightmost entry that is not one of them). Unset: the header is ignored, since a client could write anything there",
		set:  setTrustedProxies},
}

// DefaultNSFWModel is NSFW_MODEL's default. A worker started where it does
// not exist runs without the check and says so; another missing path is an
// error.
const DefaultNSFWModel = "./models/nsfw-mobilenetv2"

func setNSFWHold(c *Config, name, v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("%s=%q: want a number from 0 (hold every upload) up; above 1 holds none", name, v)
	}
	c.NSFWHold = f
	return nil
}

// setModels puts ModelDir first and refuses two models of one name: a
// model is chosen by its folder's name.
func setModels(c *Config, name, v string) error {
	c.Models = []string{c.ModelDir}
	seen := map[string]string{filepath.Base(filepath.Clean(c.ModelDir)): c.ModelDir}
	var errs []error
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); d == "" || filepath.Clean(d) == filepath.Clean(c.ModelDir) {
			continue
		}
		n := filepath.Base(filepath.Clean(d))
		if prev, ok := seen[n]; ok {
			errs = append(errs, fmt.Errorf("%s: %s and %s are both named %s; rename one folder", name, prev, d, n))
			continue
		}
		seen[n] = d
		c.Models = append(c.Models, d)
	}
	return errors.Join(errs...)
}

// setEngineURL splits KIND+URL.
func setEngineURL(c *Config, name, v string) error {
	c.EngineKind, c.EngineURL = "", ""
	if v == "" {
		return nil
	}
	kind, rest, _ := strings.Cut(v, "+")
	u, err := url.Parse(rest)
	if (kind != "openai" && kind != "ollama") || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s=%q: want openai+https://HOST or ollama+http://HOST:11434", name, v)
	}
	c.EngineKind, c.EngineURL = kind, strings.TrimRight(rest, "/")
	return nil
}

// setStorageURL checks the scheme only; storage.Open reads the rest.
func setStorageURL(c *Config, name, v string) error {
	if v != "" && !strings.HasPrefix(v, "s3://") && !strings.HasPrefix(v, "file://") {
		return fmt.Errorf("%s=%q: want s3://BUCKET?endpoint=URL&region=REGION or file:///PATH", name, v)
	}
	c.StorageURL = v
	return nil
}

func text(f func(*Config, string)) setter {
	return func(c *Config, _, v string) error { f(c, v); return nil }
}

func positive(f func(*Config, int)) setter {
	return func(c *Config, name, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("%s=%q: want a positive whole number", name, v)
		}
		f(c, n)
		return nil
	}
}

func duration(f func(*Config, time.Duration)) setter {
	return func(c *Config, name, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s=%q: want a positive duration such as 90s or 2m", name, v)
		}
		f(c, d)
		return nil
	}
}

func setAdminEmails(c *Config, v string) {
	c.AdminEmails = nil
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.AdminEmails = append(c.AdminEmails, strings.ToLower(e))
		}
	}
}

// setTrustedProxies keeps the entries that parse and reports each one that
// does not, so one typo does not hide the others.
func setTrustedProxies(c *Config, _, v string) error {
	var errs []error
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		nets, err := realclientip.AddressesAndRangesToIPNets(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP address or a CIDR range such as 10.0.0.0/8", p))
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, nets...)
	}
	return errors.Join(errs...)
}

// Load reads the environment, falling back to the defaults in Vars.
func Load() (Config, error) { return load(os.Getenv) }

// Defaults is the Config that Load returns with an empty environment.
func Defaults() Config {
	c, err := load(func(string) string { return "" })
	if err != nil {
		panic(err) // a default that does not parse is a bug in Vars
	}
	return c
}

func load(getenv func(string) string) (Config, error) {
	var c Config
	var errs []string
	for _, v := range Vars {
		def := v.Default
		if v.derive != nil {
			def = v.derive(&c)
		}
		s := strings.TrimSpace(getenv(v.Name))
		if s == "" {
			s = def
		}
		if err := v.set(&c, v.Name, s); err != nil {
			errs = append(errs, strings.Split(err.Error(), "\n")...)
			// Go on with the default, so that later derived defaults and
			// checks see a sane value rather than report a second error.
			_ = v.set(&c, v.Name, def)
		}
	}
	if c.RescueAfter <= c.JobTimeout {
		errs = append(errs, fmt.Sprintf("RESCUE_AFTER (%s) must be longer than JOB_TIMEOUT (%s)", c.RescueAfter, c.JobTimeout))
	}
	if c.EngineKind != "" && c.EngineModel == "" {
		errs = append(errs, "CAPTION_ENGINE_URL is set without CAPTION_ENGINE_MODEL: name the engine's model")
	}
	if c.EngineKind != "" && c.EngineTimeout >= c.JobTimeout {
		errs = append(errs, fmt.Sprintf("CAPTION_ENGINE_TIMEOUT (%s) must be shorter than JOB_TIMEOUT (%s): a fallback caption needs the rest", c.EngineTimeout, c.JobTimeout))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("bad configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return c, nil
}

// Help renders Vars as the environment section of --help.
func Help() string {
	var b strings.Builder
	for _, v := range Vars {
		def := strings.ReplaceAll(v.Default, "`", "")
		if def == "" {
			def = "(unset)"
		}
		fmt.Fprintf(&b, "  %-17s %s\n  %-17s default: %s\n", v.Name, v.Help, "", def)
	}
	return b.String()
}
