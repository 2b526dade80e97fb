package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"captionai/apiclient"
)

const uploadUsage = "usage: captionai upload [--server URL] [--token TOKEN] [--visibility public|unlisted|private] FILE..."

// uploadCommand uploads files to a server with an API token and prints a
// line for each as its caption arrives: id, file and caption.
func uploadCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("upload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", cmp.Or(os.Getenv("CAPTIONAI_SERVER"), "http://127.0.0.1:8080"), "the app's URL (or CAPTIONAI_SERVER)")
	token := fs.String("token", os.Getenv("CAPTIONAI_TOKEN"), "API token from /account/tokens (or CAPTIONAI_TOKEN, which other users cannot see in ps)")
	visibility := fs.String("visibility", "", "who sees the photos; default: the account's last choice, else unlisted")
	var files []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files, args = append(files, fs.Arg(0)), fs.Args()[1:]
	}
	if len(files) == 0 {
		return errors.New(uploadUsage)
	}
	if *token == "" {
		return errors.New("upload: give a token with --token or CAPTIONAI_TOKEN (make one on your account's API tokens page)")
	}
	c := apiclient.Client{Server: *server, Token: *token}
	fmt.Fprintf(stderr, "uploading %d file(s) to %s\n", len(files), *server)
	return c.Upload(ctx, files, *visibility, func(r apiclient.Result) {
		text := r.Caption
		if r.Status != "captioned" {
			text = "failed: " + r.Error
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", r.ID, oneLine(r.File), oneLine(text))
	})
}

// oneLine keeps a field of the output on its line and out of the others.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
