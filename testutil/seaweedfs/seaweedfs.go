// Package seaweedfs runs a real SeaweedFS server with its S3 gateway for
// tests (`go tool task seaweedfs` builds the binary into .cache/seaweedfs/).
// It imports nothing of the app's, so that any package's tests may use it.
package seaweedfs

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The one identity the server knows.
const (
	AccessKey = "captionai-test"
	SecretKey = "captionai-test-secret"
)

// Bin is where `go tool task seaweedfs` puts the binary, below the repository root.
func Bin(root string) string { return filepath.Join(root, ".cache", "seaweedfs", "weed") }

// Server is a running SeaweedFS with S3 on Endpoint.
type Server struct {
	Endpoint string
	dir      string
	cmd      *exec.Cmd
	exited   chan struct{}
	ports    []int
}

// Start runs bin with its configuration, data and log in dir, and returns
// once a signed S3 write works (the volume server registers with the
// master a little after the port opens).
func Start(bin, dir string) (*Server, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("SeaweedFS is not at %s: build it with `go tool task seaweedfs` (a few minutes the first time)", bin)
	}
	config := fmt.Sprintf(`{"identities": [{"name": "test", "credentials": [{"accessKey": %q, "secretKey": %q}],
		"actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}`, AccessKey, SecretKey)
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		return nil, err
	}
	p, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", p[6]), dir: dir, ports: p, exited: make(chan struct{})}
	// Every port is given: the gRPC defaults (HTTP port + 10000) could be
	// taken or out of range, and the Iceberg and Lance ones fixed. Each
	// bucket takes 7 volumes of its own: room for a few dozen buckets.
	s.cmd = exec.Command(bin, "-logdir="+dir, "server", "-dir="+data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		fmt.Sprint("-master.port=", p[0]), fmt.Sprint("-master.port.grpc=", p[1]),
		fmt.Sprint("-volume.port=", p[2]), fmt.Sprint("-volume.port.grpc=", p[3]),
		fmt.Sprint("-filer.port=", p[4]), fmt.Sprint("-filer.port.grpc=", p[5]),
		"-s3", fmt.Sprint("-s3.port=", p[6]), fmt.Sprint("-s3.port.grpc=", p[7]),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.localSocket="+filepath.Join(dir, "s3.sock"),
		"-s3.config="+filepath.Join(dir, "s3.json"), "-volume.max=100", "-master.volumeSizeLimitMB=64", "-volume.preStopSeconds=0",
		"-master.telemetry=false")
	s.cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	out, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		return nil, err
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	err = s.cmd.Start()
	out.Close()
	if err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.exited) }()

	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.probe(ctx)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("SeaweedFS exited: %s\n%s", s.cmd.ProcessState, s.Log())
		case <-time.After(250 * time.Millisecond):
		}
		if time.Since(start) > 90*time.Second {
			s.Stop(0)
			return nil, fmt.Errorf("SeaweedFS's S3 did not answer in 90 s: %v\n%s", err, s.Log())
		}
	}
}

func (s *Server) probe(ctx context.Context) error {
	c := s.Client()
	bucket := "captionai-ready"
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err != nil {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
			return err
		}
	}
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("probe"), Body: strings.NewReader("ok")})
	return err
}

// Client talks to the server as its identity, with no retries.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Retryer:                    aws.NopRetryer{},
	})
}

// URL is the STORAGE_URL of a bucket on the server.
func (s *Server) URL(bucket string) string {
	return "s3://" + bucket + "?endpoint=" + s.Endpoint + "&region=us-east-1"
}

// Log is the end of the server's log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "weed.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop asks the server to stop and kills it after grace (at once for 0:
// on SIGTERM it takes 15 s and more), then removes the sockets it puts in
// /tmp whatever TMPDIR says. The caller removes the folder.
func (s *Server) Stop(grace time.Duration) {
	if grace > 0 {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(grace):
		}
	}
	s.cmd.Process.Kill()
	<-s.exited
	for _, port := range s.ports {
		socks, _ := filepath.Glob(fmt.Sprintf("/tmp/seaweedfs-*-%d.sock", port))
		for _, f := range socks {
			os.Remove(f)
		}
	}
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // held until all are picked, so none repeats
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
