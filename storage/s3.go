package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// defaultPartSize is the multipart upload's part size, and the largest
// file sent in one PutObject.
const defaultPartSize = 16 << 20

// S3 stores files as objects in a bucket of S3 or an S3-compatible server.
type S3 struct {
	client   *s3.Client
	bucket   string
	partSize int64
}

// newS3 opens s3://BUCKET?endpoint=URL&region=REGION. Credentials come from
// the AWS SDK's default chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
// shared files, instance roles).
func newS3(u *url.URL) (*S3, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("STORAGE_URL %s: "+format, append([]any{u.Redacted()}, args...)...)
	}
	if u.Host == "" {
		return nil, bad("name the bucket: s3://BUCKET?endpoint=https://HOST&region=REGION")
	}
	if u.User != nil {
		return nil, bad("no credentials in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if strings.Trim(u.Path, "/") != "" {
		return nil, bad("a path after the bucket is not supported")
	}
	q := u.Query()
	for k := range q {
		if k != "endpoint" && k != "region" {
			return nil, bad("unknown parameter %q (known: endpoint, region)", k)
		}
	}
	endpoint, region := q.Get("endpoint"), q.Get("region")
	if endpoint != "" {
		e, err := url.Parse(endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return nil, bad("endpoint %q: want http://HOST:PORT or https://HOST", endpoint)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, bad("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1" // S3-compatible servers mostly ignore it, but signing needs one
	}
	// The SDK's default checksums (CRC32 on every request) are refused by
	// many S3-compatible servers; AWS_REQUEST_CHECKSUM_CALCULATION and
	// AWS_RESPONSE_CHECKSUM_VALIDATION still choose otherwise.
	if cfg.RequestChecksumCalculation == aws.RequestChecksumCalculationUnset {
		cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	}
	if cfg.ResponseChecksumValidation == aws.ResponseChecksumValidationUnset {
		cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true // custom endpoints rarely have per-bucket host names
		}
	})
	s := &S3{client: client, bucket: u.Host, partSize: defaultPartSize}
	// Like NewLocal's probe: a wrong bucket or credentials fail at start.
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return nil, bad("cannot reach the bucket (credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or the AWS SDK's other sources): %w", err)
	}
	return s, nil
}

func checkKey(key string) error {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return fmt.Errorf("storage: bad key %q", key)
	}
	return nil
}

// isNotFound tells a missing object from other errors. HEAD answers carry
// no body, so their code is the bare "NotFound".
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var api smithy.APIError
	return errors.As(err, &nsk) || errors.As(err, &nf) ||
		(errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound"))
}

// A part is one request body: seekable, so the SDK can sign and retry it.
type part struct {
	body io.ReadSeeker
	size int64
	last bool
}

// Put uploads r without holding it in memory when it is a file (what the
// upload handler passes): it is sent from the file, in parts when large.
// Other readers are read one part at a time.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	var next func() (part, error)
	if f, ok := r.(interface {
		io.ReaderAt
		io.Seeker
	}); ok {
		start, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, fmt.Errorf("storage: %w", err)
		}
		end, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			return 0, fmt.Errorf("storage: %w", err)
		}
		off := start
		next = func() (part, error) {
			n := min(s.partSize, end-off)
			p := part{body: io.NewSectionReader(f, off, n), size: n, last: off+n >= end}
			off += n
			return p, nil
		}
	} else {
		buf := make([]byte, s.partSize)
		next = func() (part, error) {
			n, err := io.ReadFull(r, buf)
			if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
				return part{}, fmt.Errorf("storage: reading %s: %w", key, err)
			}
			return part{body: bytes.NewReader(buf[:n]), size: int64(n), last: err != nil}, nil
		}
	}
	n, err := s.put(ctx, key, next)
	if err != nil {
		return 0, fmt.Errorf("storage: writing %s: %w", key, err)
	}
	return n, nil
}

func (s *S3) put(ctx context.Context, key string, next func() (part, error)) (int64, error) {
	p, err := next()
	if err != nil {
		return 0, err
	}
	if p.last {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: p.body, ContentLength: &p.size})
		return p.size, err
	}
	mu, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return 0, err
	}
	var parts []types.CompletedPart
	var total int64
	err = func() error {
		for num := int32(1); ; num++ {
			// A reader whose size is a multiple of the part size ends with
			// an empty part, which S3 refuses; the previous part is last.
			if p.size > 0 || num == 1 {
				out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key,
					UploadId: mu.UploadId, PartNumber: aws.Int32(num), Body: p.body, ContentLength: &p.size})
				if err != nil {
					return err
				}
				parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
				total += p.size
			}
			if p.last {
				return nil
			}
			if p, err = next(); err != nil {
				return err
			}
		}
	}()
	if err == nil {
		_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key,
			UploadId: mu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	}
	if err != nil {
		// Uploaded parts are billed until aborted.
		s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: mu.UploadId})
		return 0, err
	}
	return total, nil
}

// Open starts reading key. Reads and seeks work as on a file, so
// http.ServeContent can answer Range requests: a read after a seek asks for
// the rest of the object from there. Reads use ctx.
func (s *S3) Open(ctx context.Context, key string) (File, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if isNotFound(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("storage: reading %s: %w", key, err)
	}
	if out.ContentLength == nil {
		out.Body.Close()
		return nil, fmt.Errorf("storage: reading %s: the server sent no Content-Length", key)
	}
	return &s3File{ctx: ctx, s: s, key: key, etag: out.ETag, size: *out.ContentLength, body: out.Body}, nil
}

type s3File struct {
	ctx    context.Context
	s      *S3
	key    string
	etag   *string // later ranges must come from the same object
	size   int64
	pos    int64
	body   io.ReadCloser // nil when none is open
	bodyAt int64         // offset of body's next byte
}

func (f *s3File) Read(p []byte) (int, error) {
	if f.pos >= f.size {
		return 0, io.EOF
	}
	if f.body == nil || f.bodyAt != f.pos {
		if f.body != nil {
			f.body.Close()
			f.body = nil
		}
		out, err := f.s.client.GetObject(f.ctx, &s3.GetObjectInput{Bucket: &f.s.bucket, Key: &f.key,
			Range: aws.String(fmt.Sprintf("bytes=%d-", f.pos)), IfMatch: f.etag})
		if err != nil {
			return 0, fmt.Errorf("storage: reading %s at %d: %w", f.key, f.pos, err)
		}
		f.body, f.bodyAt = out.Body, f.pos
	}
	n, err := f.body.Read(p)
	f.pos += int64(n)
	f.bodyAt += int64(n)
	if err == io.EOF && f.pos < f.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (f *s3File) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.size
	default:
		return 0, errors.New("storage: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("storage: seek before the start")
	}
	f.pos = offset
	return offset, nil
}

func (f *s3File) Close() error {
	if f.body == nil {
		return nil
	}
	err := f.body.Close()
	f.body = nil
	return err
}

// Stat returns the size of key, or ErrNotFound.
func (s *S3) Stat(ctx context.Context, key string) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if isNotFound(err) {
		return 0, ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("storage: %s: %w", key, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Delete removes key; a missing object is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("storage: deleting %s: %w", key, err)
	}
	return nil
}

// DeleteFolder removes the objects whose keys start with folder, a page of
// the listing at a time.
func (s *S3) DeleteFolder(ctx context.Context, folder string) error {
	if err := checkFolder(folder); err != nil {
		return err
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &folder})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("storage: listing %s: %w", folder, err)
		}
		for _, o := range page.Contents {
			if err := s.Delete(ctx, aws.ToString(o.Key)); err != nil {
				return err
			}
		}
	}
	return nil
}
