// Command captionai is the CaptionAI web app, its caption workers, and a
// command-line captioner, in one binary.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"captionai/app"
	"captionai/config"
	"captionai/db"
	"captionai/export"
	"captionai/imagefile"
	"captionai/storage"
	"captionai/vocab"
)

const usage = `CaptionAI: upload photos, get captions written by a transformer.

Usage:
  captionai [serve]          web server and caption workers in one process (default)
  captionai web              HTTP only; inserts caption jobs
  captionai worker           caption workers only
  captionai migrate          apply the database schema (ours and River's) and exit
  captionai caption [--evidence] FILE...
                             print a caption for each image file (--evidence: with
                             the model's words, confidence, its evidence and
                             the detector's class scores)
  captionai upload [--server URL] [--token TOKEN] FILE...
                             upload to a running app with an API token
                             (or CAPTIONAI_TOKEN, CAPTIONAI_SERVER) and print
                             each image's id, file and caption as it arrives
  captionai admin grant EMAIL [--role admin|moderator]
                             give an account a role (default admin); the
                             operator vouches for the address, so it counts
                             as verified
  captionai admin revoke EMAIL
                             take an account's role away
  captionai storage copy --to URL
                             copy the stored images from the configured
                             storage (STORAGE_URL, else MEDIA_DIR) to URL
                             (s3://... or file:///...); a rerun skips what
                             is there, so it resumes. Then set STORAGE_URL

  captionai export captions DIR
                             write the captions people corrected on public
                             photos, with the photos, to DIR in the Flickr8k
                             layout that training/ reads (--extra DIR)

Environment:
`

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cmd := "serve"
	args := os.Args[1:]
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd == "-h" || cmd == "--help" || cmd == "help" {
		fmt.Print(usage + config.Help())
		return
	}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "captionai:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "serve":
		err = run(ctx, cfg, app.Roles{Web: true, Worker: true}, log)
	case "web":
		err = run(ctx, cfg, app.Roles{Web: true}, log)
	case "worker":
		err = run(ctx, cfg, app.Roles{Worker: true}, log)
	case "migrate":
		err = run(ctx, cfg, app.Roles{}, log)
	case "caption":
		err = caption(ctx, cfg, args)
	case "upload":
		err = uploadCommand(ctx, args, os.Stdout, os.Stderr)
	case "export":
		err = exportCaptions(ctx, cfg, args)
	case "admin":
		err = admin(ctx, cfg, args, log)
	case "storage":
		err = storageCopy(ctx, cfg, args)
	default:
		fmt.Fprintf(os.Stderr, "captionai: unknown command %q\n\n%s%s", cmd, usage, config.Help())
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "captionai:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config.Config, roles app.Roles, log *slog.Logger) error {
	// Bind first, so a taken port fails before Postgres and the model load.
	var ln net.Listener
	if roles.Web {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("cannot listen on %s (ADDR): %w", cfg.Addr, err)
		}
	}
	a, err := app.Open(ctx, cfg, roles, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if !roles.Web && !roles.Worker {
		log.Info("database is up to date")
		return nil
	}
	return a.Run(ctx, ln)
}

func caption(ctx context.Context, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("caption", flag.ContinueOnError)
	evidence := fs.Bool("evidence", false, "also print the model's own words, its confidence, certainty and the evidence behind them (for calibration in training/)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		return errors.New("caption: name at least one image file")
	}
	m, err := app.LoadModel(cfg, 1)
	if err != nil {
		return err
	}
	defer m.Close()
	failed := 0
	for _, name := range files {
		img, err := decodeLikeTheJob(name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			failed++
			continue
		}
		res, err := m.Caption(ctx, img)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if !*evidence {
			fmt.Printf("%s\t%s\n", name, res.Text)
			continue
		}
		conf, e := "", res.Evidence
		if res.Confidence != nil {
			conf = strconv.FormatFloat(*res.Confidence, 'f', 4, 64)
		}
		named := 0
		if e.Named {
			named = 1
		}
		scores := make([]string, len(res.DetectorScores))
		for i, v := range res.DetectorScores {
			scores[i] = strconv.FormatFloat(float64(v), 'f', 4, 32)
		}
		fmt.Printf("%s\t%s\t%s\t%s\t%s\t%.5f\t%.5f\t%d\t%.5f\t%.5f\t%s\n", name, res.Text, res.ModelText, conf, res.Certainty,
			e.MeanLogProb, e.MinLogProb, named, e.NamedScore, e.TopScore, strings.Join(scores, ","))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files could not be read", failed, len(files))
	}
	return nil
}

// decodeLikeTheJob decodes an image file as the caption job does: once,
// with libvips, shrunk on load to the models' input and turned upright,
// or with Go's decoders when libvips cannot read it.
func decodeLikeTheJob(name string) (image.Image, error) {
	file, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	side := imagefile.ModelSide
	if info, err := imagefile.Inspect(bytes.NewReader(file), math.MaxInt64); err == nil {
		side = imagefile.ModelSideFor(info.Width, info.Height)
	}
	if px, err := imagefile.DecodeForModel(file, side); err == nil {
		return px, nil
	}
	return imagefile.Decode(bytes.NewReader(file))
}

// admin grants or revokes roles from the command line.
func admin(ctx context.Context, cfg config.Config, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	role := fs.String("role", vocab.Admin, "role to grant: admin or moderator")
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	if len(pos) != 2 || (pos[0] != "grant" && pos[0] != "revoke") {
		return errors.New("usage: captionai admin grant EMAIL [--role admin|moderator] | captionai admin revoke EMAIL")
	}
	action, email := pos[0], pos[1]
	if action == "revoke" {
		*role = vocab.User
	} else if *role != vocab.Admin && *role != vocab.Moderator {
		return fmt.Errorf("--role %q: choose admin or moderator", *role)
	}
	a, err := app.Open(ctx, cfg, app.Roles{}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.Store.UserByEmail(ctx, email)
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("no account has the address %s: sign up first, then grant the role", email)
	}
	if err != nil {
		return err
	}
	before := u.Role
	if u, err = a.Store.SetRole(ctx, u.ID, *role, "cli", action == "grant", &db.Audit{ActorEmail: "command line"}); err != nil {
		return err
	}
	log.Info("role set", "user", u.ID, "email", u.Email, "role", u.Role, "was", before, "by", "cli")
	if before == u.Role {
		fmt.Printf("%s already has the role %s; nothing changed\n", u.Email, u.Role)
		return nil
	}
	fmt.Printf("%s: %s -> %s; its sessions are signed out\n", u.Email, before, u.Role)
	return nil
}

// storageCopy copies every image's file to another store, skipping those
// already there, so that an interrupted copy resumes where it stopped.
func storageCopy(ctx context.Context, cfg config.Config, args []string) error {
	const use = "usage: captionai storage copy --to URL (s3://BUCKET?endpoint=URL&region=REGION or file:///PATH)"
	if len(args) == 0 || args[0] != "copy" {
		return errors.New(use)
	}
	fs := flag.NewFlagSet("storage copy", flag.ContinueOnError)
	to := fs.String("to", "", "target storage URL")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *to == "" || fs.NArg() > 0 {
		return errors.New(use)
	}
	from, err := storage.Open(cfg.StorageURL, cfg.MediaDir)
	if err != nil {
		return err
	}
	target, err := storage.Open(*to, "")
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	a, err := app.Open(ctx, cfg, app.Roles{}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer a.Close()
	st, err := storage.Copy(ctx, from, target, a.Store.StorageKeys, func(key string, st storage.CopyStats, err error) {
		switch {
		case err != nil:
			fmt.Fprintf(os.Stderr, "missing from the source, not copied: %s\n", key)
		case st.Copied+st.Skipped+st.Missing == 1 || (st.Copied+st.Skipped+st.Missing)%100 == 0:
			fmt.Printf("%d copied (%.1f MB), %d already there\n", st.Copied, float64(st.Bytes)/1e6, st.Skipped)
		}
	})
	summary := fmt.Sprintf("%d copied (%.1f MB), %d already there, %d missing from the source", st.Copied, float64(st.Bytes)/1e6, st.Skipped, st.Missing)
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted after %s; run the same command again to go on", summary)
	}
	if err != nil {
		return fmt.Errorf("%w\nstopped after %s; run the same command again to go on", err, summary)
	}
	fmt.Println(summary)
	if st.Missing > 0 {
		fmt.Println("The files listed above were already missing; every other stored image is in the target.")
	} else {
		fmt.Println("Every stored image is in the target.")
	}
	fmt.Printf("To switch: stop web and workers, run this again (it copies only what is new),\n"+
		"set STORAGE_URL=%s and start them.\n", *to)
	return nil
}

// exportCaptions writes the corrected captions of public images to a folder.
func exportCaptions(ctx context.Context, cfg config.Config, args []string) error {
	if len(args) != 2 || args[0] != "captions" {
		return errors.New("usage: captionai export captions DIR")
	}
	files, err := storage.Open(cfg.StorageURL, cfg.MediaDir)
	if err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, app.Roles{}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := export.Captions(ctx, a.Store, files, args[1])
	if err != nil {
		return err
	}
	fmt.Printf("%d corrected captions written to %s; train on them with training/'s --extra %s\n", n, args[1], args[1])
	return nil
}
