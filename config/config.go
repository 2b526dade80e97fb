// Package config reads CaptionAI's settings from the environment. It is the
// one place where defaults live; README.md documents the same table.
package config

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/realclientip/realclientip-go"
)

// Config holds every setting of the app.
type Config struct {
	DatabaseURL    string        // empty: run an embedded Postgres under DataDir
	DataDir        string        // embedded Postgres data and other local state
	Addr           string        // HTTP listen address
	MediaDir       string        // uploaded files
	ModelDir       string        // captioning model (Optimum VisionEncoderDecoder layout)
	ORTLib         string        // path to libonnxruntime.so
	Workers        int           // ONNX sessions, and so concurrent caption jobs
	ThreadsPerJob  int           // intra-op threads per ONNX session
	MaxUploadBytes int64         // per file
	MaxPixels      int64         // width*height, checked before decoding
	MaxFiles       int           // files per upload request
	JobTimeout     time.Duration // one caption job
	RescueAfter    time.Duration // a running job older than this is presumed orphaned by a dead worker
	EmbeddedPGPort int           // TCP port of the embedded Postgres (loopback only)
	PublicURL      string        // how users reach the app; links in email, Secure cookies when https
	SMTPURL        string        // empty: log mail instead of sending it
	MailFrom       string
	AdminEmails    []string      // verified accounts with these addresses are admins
	GuestRetention time.Duration // unclaimed guest uploads are deleted after this
	GuestUploads   int           // guest uploads per IP address per hour
	TrustedProxies []net.IPNet   // reverse proxies whose X-Forwarded-For is believed
}

// Var describes one environment variable for --help and the README.
type Var struct {
	Name, Default, Help string
}

// Vars lists the variables Load reads, in display order.
var Vars = []Var{
	{"DATABASE_URL", "", "Postgres URL. Unset: run an embedded Postgres from the machine's binaries under DATA_DIR/postgres"},
	{"DATA_DIR", "./data", "local state: the embedded Postgres cluster"},
	{"ADDR", "127.0.0.1:8080", "HTTP listen address"},
	{"MEDIA_DIR", "./data/media", "where uploaded images are stored"},
	{"MODEL_DIR", "./models/captionai-flickr8k", "captioning model directory (onnx/, config.json, tokenizer.json, ...)"},
	{"ORT_LIB", "./.cache/onnxruntime/1.24.3/libonnxruntime.so.1", "ONNX Runtime shared library (`go tool task ort` fetches it)"},
	{"WORKERS", "number of CPUs", "ONNX sessions per worker process, which is also the caption jobs run at once"},
	{"THREADS_PER_JOB", "1", "intra-op threads of each ONNX session"},
	{"MAX_UPLOAD_MB", "20", "largest accepted file, in MB"},
	{"MAX_MEGAPIXELS", "50", "largest accepted image, in megapixels (checked before decoding)"},
	{"MAX_FILES", "20", "most files in one upload"},
	{"JOB_TIMEOUT", "1m", "time limit of one caption job"},
	{"RESCUE_AFTER", "JOB_TIMEOUT + 30s", "a job running this long is presumed orphaned by a dead worker and run again"},
	{"EMBEDDED_PG_PORT", "5488", "loopback port of the embedded Postgres"},
	{"PUBLIC_URL", "http://ADDR", "how users reach the app: links in email; https makes cookies Secure"},
	{"SMTP_URL", "", "mail server, smtp://user:pass@host:587 or smtps://host:465. Unset: mail is logged, not sent"},
	{"MAIL_FROM", "CaptionAI <noreply@localhost>", "sender of password reset mail"},
	{"ADMIN_EMAILS", "", "comma-separated addresses whose accounts become admins once the address is verified; an address taken off the list loses the role it gave at the next start"},
	{"GUEST_RETENTION_DAYS", "7", "unclaimed guest uploads are deleted after this many days"},
	{"GUEST_UPLOADS_PER_HOUR", "20", "photos a guest may upload per hour from one IP address"},
	{"TRUSTED_PROXIES", "", "comma-separated addresses or CIDR ranges of your reverse proxies; requests from them are counted by the client address in X-Forwarded-For. Unset: the header is ignored"},
}

// Load reads the environment, falling back to the defaults in Vars.
func Load() (Config, error) {
	var errs []string
	getInt := func(name string, def int) int {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%q: want a positive whole number", name, v))
			return def
		}
		return n
	}
	getDur := func(name string, def time.Duration) time.Duration {
		v := strings.TrimSpace(os.Getenv(name))
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%q: want a positive duration such as 90s or 2m", name, v))
			return def
		}
		return d
	}
	get := func(name, def string) string {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" {
			return v
		}
		return def
	}

	c := Config{
		DatabaseURL:    get("DATABASE_URL", ""),
		DataDir:        get("DATA_DIR", "./data"),
		Addr:           get("ADDR", "127.0.0.1:8080"),
		ModelDir:       get("MODEL_DIR", "./models/captionai-flickr8k"),
		ORTLib:         get("ORT_LIB", "./.cache/onnxruntime/1.24.3/libonnxruntime.so.1"),
		Workers:        getInt("WORKERS", runtime.NumCPU()),
		ThreadsPerJob:  getInt("THREADS_PER_JOB", 1),
		MaxUploadBytes: int64(getInt("MAX_UPLOAD_MB", 20)) << 20,
		MaxPixels:      int64(getInt("MAX_MEGAPIXELS", 50)) * 1_000_000,
		MaxFiles:       getInt("MAX_FILES", 20),
		JobTimeout:     getDur("JOB_TIMEOUT", time.Minute),
		EmbeddedPGPort: getInt("EMBEDDED_PG_PORT", 5488),
	}
	c.PublicURL = strings.TrimRight(get("PUBLIC_URL", "http://"+c.Addr), "/")
	c.SMTPURL = get("SMTP_URL", "")
	c.MailFrom = get("MAIL_FROM", "CaptionAI <noreply@localhost>")
	for _, e := range strings.Split(get("ADMIN_EMAILS", ""), ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.AdminEmails = append(c.AdminEmails, strings.ToLower(e))
		}
	}
	c.GuestRetention = time.Duration(getInt("GUEST_RETENTION_DAYS", 7)) * 24 * time.Hour
	c.GuestUploads = getInt("GUEST_UPLOADS_PER_HOUR", 20)
	if v := get("TRUSTED_PROXIES", ""); v != "" {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			nets, err := realclientip.AddressesAndRangesToIPNets(p)
			if err != nil {
				errs = append(errs, fmt.Sprintf("TRUSTED_PROXIES: %q is not an IP address or a CIDR range such as 10.0.0.0/8", p))
				continue
			}
			c.TrustedProxies = append(c.TrustedProxies, nets...)
		}
	}
	c.RescueAfter = getDur("RESCUE_AFTER", c.JobTimeout+30*time.Second)
	if c.RescueAfter <= c.JobTimeout {
		errs = append(errs, fmt.Sprintf("RESCUE_AFTER (%s) must be longer than JOB_TIMEOUT (%s)", c.RescueAfter, c.JobTimeout))
	}
	c.MediaDir = get("MEDIA_DIR", strings.TrimRight(c.DataDir, "/")+"/media")
	if len(errs) > 0 {
		return c, fmt.Errorf("bad configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return c, nil
}

// Help renders Vars as the environment section of --help.
func Help() string {
	var b strings.Builder
	for _, v := range Vars {
		def := v.Default
		if def == "" {
			def = "(unset)"
		}
		fmt.Fprintf(&b, "  %-17s %s\n  %-17s default: %s\n", v.Name, v.Help, "", def)
	}
	return b.String()
}
