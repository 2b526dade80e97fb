// Package apiclient is a small client of CaptionAI's API: it uploads
// files with a personal API token and reports each caption as it arrives.
// `captionai upload` is built on it.
package apiclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"captionai/vocab"
)

// Client talks to one server as one token's account.
type Client struct {
	Server string // base URL, such as http://127.0.0.1:8080
	Token  string
	HTTP   *http.Client // nil: http.DefaultClient
}

// Image is an image as the API describes it.
type Image struct {
	ID         string  `json:"id"`
	Status     string  `json:"status"`
	Caption    *string `json:"caption"`
	Certainty  *string `json:"certainty"`
	Error      *string `json:"error"`
	Visibility string  `json:"visibility"`
}

// Result is what became of one uploaded file.
type Result struct {
	File    string
	ID      string
	Status  string // captioned or failed
	Caption string // with the page's hedge: "Probably: …" when the model is not sure
	Error   string // why captioning failed
}

// Error is a refusal by the server: its status and message, and for a
// refused upload the problem of each file.
type Error struct {
	Status  int
	Message string
	Files   []FileError
}

// FileError is why one file of an upload was refused.
type FileError struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}

func (e *Error) Error() string {
	var b strings.Builder
	switch e.Status {
	case http.StatusUnauthorized:
		b.WriteString("the server refused the token (401): ")
	default:
		fmt.Fprintf(&b, "the server answered %d: ", e.Status)
	}
	b.WriteString(e.Message)
	for _, f := range e.Files {
		fmt.Fprintf(&b, "\n  %s: %s", f.Name, f.Error)
	}
	return b.String()
}

// Upload sends files in one request, then follows their captioning and
// calls onResult for each image once it is captioned or failed, in the
// order they finish. It checks the token before sending anything. Any
// refusal, a lost connection, or a failed caption is an error.
func (c *Client) Upload(ctx context.Context, files []string, visibility string, onResult func(Result)) error {
	if len(files) == 0 {
		return errors.New("name at least one image file")
	}
	for _, name := range files {
		st, err := os.Stat(name)
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a file", name)
		}
	}
	// A refusal of the token comes before megabytes are sent.
	if err := c.getJSON(ctx, "/api/images?limit=1", nil); err != nil {
		return err
	}
	batch, images, err := c.send(ctx, files, visibility)
	if err != nil {
		return err
	}
	if len(images) != len(files) {
		return fmt.Errorf("the server stored %d images for %d files", len(images), len(files))
	}
	fileOf := map[string]string{}
	for i, img := range images {
		fileOf[img.ID] = files[i]
	}
	failed := 0
	report := func(img Image) {
		r := Result{File: fileOf[img.ID], ID: img.ID, Status: img.Status}
		if img.Caption != nil {
			r.Caption = *img.Caption
			if img.Certainty != nil {
				r.Caption = vocab.Hedge(*img.Certainty) + r.Caption
			}
		}
		if img.Error != nil {
			r.Error = *img.Error
		}
		if img.Status != "captioned" {
			failed++
		}
		delete(fileOf, img.ID)
		onResult(r)
	}
	// Each event says an image changed; its JSON says whether it is done.
	err = c.events(ctx, "/batches/"+url.PathEscape(batch)+"/events", func(name string) error {
		id, ok := strings.CutPrefix(name, "image-")
		if _, pending := fileOf[id]; !ok || !pending {
			return nil
		}
		img, err := c.Image(ctx, id)
		if err != nil {
			return err
		}
		if img.Status == "captioned" || img.Status == "failed" {
			report(img)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, img := range images {
		if _, pending := fileOf[img.ID]; !pending {
			continue
		}
		got, err := c.Image(ctx, img.ID)
		if err != nil {
			return err
		}
		report(got)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be captioned", failed, len(files))
	}
	return nil
}

// Image reads one image.
func (c *Client) Image(ctx context.Context, id string) (Image, error) {
	var img Image
	err := c.getJSON(ctx, "/api/images/"+url.PathEscape(id), &img)
	return img, err
}

// send uploads the files as one multipart request, streamed from disk.
func (c *Client) send(ctx context.Context, files []string, visibility string) (string, []Image, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeParts(mw, files, visibility))
	}()
	req, err := c.request(ctx, "POST", "/images", pr)
	if err != nil {
		pr.Close()
		return "", nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := c.do(req)
	pr.Close()
	if err != nil {
		return "", nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		return "", nil, refusal(res)
	}
	var out struct {
		BatchID string  `json:"batch_id"`
		Images  []Image `json:"images"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return "", nil, fmt.Errorf("reading the upload's answer: %w", err)
	}
	return out.BatchID, out.Images, nil
}

func writeParts(mw *multipart.Writer, files []string, visibility string) error {
	if visibility != "" {
		if err := mw.WriteField("visibility", visibility); err != nil {
			return err
		}
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		part, err := mw.CreateFormFile("image", filepath.Base(name))
		if err == nil {
			_, err = io.Copy(part, f)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return mw.Close()
}

// events reads a server-sent event stream and calls onEvent with each
// event's name until "done".
func (c *Client) events(ctx context.Context, path string, onEvent func(name string) error) error {
	req, err := c.request(ctx, "GET", path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return refusal(res)
	}
	br := bufio.NewReader(res.Body)
	name := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("the event stream ended before every caption arrived: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "event:"):
			name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case line == "" && name == "done":
			return nil
		case line == "" && name != "":
			if err := onEvent(name); err != nil {
				return err
			}
			name = ""
		}
	}
}

func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	req, err := c.request(ctx, "GET", path, nil)
	if err != nil {
		return err
	}
	res, err := c.do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return refusal(res)
	}
	if v == nil {
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

func (c *Client) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	base, err := url.Parse(c.Server)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("the server %q is not an http:// or https:// URL", c.Server)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Server, "/")+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	return req, nil
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return nil, req.Context().Err()
		}
		return nil, fmt.Errorf("cannot reach %s: %w", c.Server, err)
	}
	return res, nil
}

// refusal reads the server's JSON error, or says what came instead.
func refusal(res *http.Response) error {
	e := &Error{Status: res.StatusCode}
	var body struct {
		Error string      `json:"error"`
		Files []FileError `json:"files"`
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if json.Unmarshal(b, &body) == nil && body.Error != "" {
		e.Message, e.Files = body.Error, body.Files
	} else {
		e.Message = http.StatusText(res.StatusCode) + " (not an answer of the CaptionAI API: is the server URL right?)"
	}
	return e
}
