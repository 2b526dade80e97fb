package app_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"hash/crc32"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"captionai/testutil"
)

// TestSIGTERMDrainsRunningCaption stops `captionai serve` with SIGTERM while
// a caption job runs: the job must finish on its first attempt and the
// process exit cleanly, not fail the job with "context canceled".
func TestSIGTERMDrainsRunningCaption(t *testing.T) {
	t.Parallel()
	root := testutil.RepoRoot(t)
	bin := filepath.Join(t.TempDir(), "captionai")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	pool, dbURL := testutil.NewDB(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "MODEL_DIR="+testutil.TinyModel(t),
		"ORT_LIB="+testutil.ORTLib(t), "ADDR="+addr, "MEDIA_DIR="+t.TempDir(), "WORKERS=1",
		"THREADS_PER_JOB=1", "JOB_TIMEOUT=1m")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill() // no-op once it has exited
		<-exited
		if t.Failed() {
			t.Logf("captionai serve output:\n%s", logs.String())
		}
	})

	url := "http://" + addr
	waitReady(t, url, exited)

	start := time.Now()
	id := location(t, post(t, url, []file{{"huge.png", slowPNG(7000, 7000)}}, nil), "/images/")
	ctx := context.Background()
	for status := ""; status != "captioning"; {
		if err := pool.QueryRow(ctx, `SELECT status FROM images WHERE id = $1`, id).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status == "captioned" || status == "failed" {
			t.Fatalf("the job ended (%s) before it could be interrupted; the test image decodes too fast", status)
		}
		// Generous: the whole suite runs in parallel on two cores.
		if time.Since(start) > 90*time.Second {
			t.Fatalf("image still %q after 90s", status)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Fatalf("captionai serve exited with %v after SIGTERM; want status 0", err)
		}
	case <-time.After(25 * time.Second): // the 20s grace, and some
		t.Fatal("captionai serve still running 25s after SIGTERM")
	}
	t.Logf("upload to captioning %s; SIGTERM to exit %s", sent.Sub(start).Round(time.Millisecond), time.Since(sent).Round(time.Millisecond))

	var status string
	var caption *string
	if err := pool.QueryRow(ctx, `SELECT status, caption FROM images WHERE id = $1`, id).Scan(&status, &caption); err != nil {
		t.Fatal(err)
	}
	if status != "captioned" || caption == nil || *caption == "" {
		t.Errorf("image is %q with caption %v; want captioned with a caption", status, caption)
	}
	rows, err := pool.Query(ctx, `SELECT state, attempt, coalesce(array_length(errors, 1), 0)
		FROM river_job WHERE kind = 'caption' AND args->>'image_id' = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var state string
		var attempt, errs int
		if err := rows.Scan(&state, &attempt, &errs); err != nil {
			t.Fatal(err)
		}
		n++
		if state != "completed" || attempt != 1 || errs != 0 {
			t.Errorf("caption job is %s after attempt %d with %d errors; want completed on attempt 1 with none", state, attempt, errs)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d caption jobs for the image; want 1", n)
	}
}

// waitReady polls /readyz until the process serves.
func waitReady(t *testing.T, url string, exited chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("captionai serve exited before it was ready: %v", err)
		default:
		}
		res, err := http.Get(url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("captionai serve not ready after 60s")
}

// slowPNG is a w×h 16-bit RGBA PNG of one colour: half a megabyte to send,
// but hundreds of megabytes to inflate, and 16-bit pixels take the slow
// conversion path, so captioning it takes a second or more. It is written
// by hand because image/png tries every row filter and would take seconds.
func slowPNG(w, h int) []byte {
	var out bytes.Buffer
	chunk := func(typ string, data []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(data)))
		out.WriteString(typ)
		out.Write(data)
		binary.Write(&out, binary.BigEndian, crc32.Update(crc32.ChecksumIEEE([]byte(typ)), crc32.IEEETable, data))
	}
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6 // bit depth 16, RGBA
	chunk("IHDR", ihdr)

	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	row := make([]byte, 1+8*w)
	row[0] = 1 // filter Sub: every pixel repeats the first
	copy(row[1:], []byte{0x80, 0, 0x60, 0, 0x40, 0, 0xff, 0xff})
	zw.Write(row)
	clear(row)
	row[0] = 2 // filter Up: every row repeats the first
	for y := 1; y < h; y++ {
		zw.Write(row)
	}
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}
