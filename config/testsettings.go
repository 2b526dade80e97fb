package config

import (
	"os"
	"strings"
)

// TestSettings are the environment variables the tests read. They live here
// with the app's settings so that nothing else reads the environment, and
// testVars documents them (README.md's "Test settings").
type TestSettings struct {
	DatabaseURL        string // server the tests create their databases on
	ORTLib             string // relative: from the repository root
	Chromium           string // empty: chromium on PATH
	ScreenshotDir      string // empty: no screenshots
	Flickr8kDir        string // empty: ../shared/datasets/flickr8k beside the checkout
	CocoMiniDir        string // empty: ../shared/datasets/coco-mini beside the checkout
	PGServerHelperDir  string // set for db/pgserver's helper process
	PGServerHelperPort string
}

type testVar struct {
	Var
	field func(*TestSettings) *string
}

var testVars = []testVar{
	{Var{Name: "TEST_DATABASE_URL", Default: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		Help: "Postgres server on which each test creates, and then drops, its own database"},
		func(s *TestSettings) *string { return &s.DatabaseURL }},
	{Var{Name: "ORT_LIB", Default: DefaultORTLib,
		Help: "ONNX Runtime library the tests load; a relative path is taken from the repository root"},
		func(s *TestSettings) *string { return &s.ORTLib }},
	{Var{Name: "CHROMIUM",
		Help: "browser for the browser tests. Unset: `chromium` on PATH"},
		func(s *TestSettings) *string { return &s.Chromium }},
	{Var{Name: "SCREENSHOT_DIR",
		Help: "folder where the browser tests save screenshots of the pages they check. Unset: none are taken"},
		func(s *TestSettings) *string { return &s.ScreenshotDir }},
	{Var{Name: "FLICKR8K_DIR",
		Help: "Flickr8k dataset for the shipped model's tests and benchmark. Unset: `../shared/datasets/flickr8k` beside the checkout; the tests that need it skip without it"},
		func(s *TestSettings) *string { return &s.Flickr8kDir }},
	{Var{Name: "COCO_MINI_DIR",
		Help: "coco-mini dataset (COCO photos in the Flickr8k layout) for the shipped model's object test. Unset: `../shared/datasets/coco-mini` beside the checkout; the test skips without it"},
		func(s *TestSettings) *string { return &s.CocoMiniDir }},
	{Var{Name: "PGSERVER_HELPER_DIR",
		Help: "internal: set by db/pgserver's TestKilledApp for the helper process it starts"},
		func(s *TestSettings) *string { return &s.PGServerHelperDir }},
	{Var{Name: "PGSERVER_HELPER_PORT",
		Help: "internal: set by db/pgserver's TestKilledApp for the helper process it starts"},
		func(s *TestSettings) *string { return &s.PGServerHelperPort }},
}

// Test reads the test settings from the environment.
func Test() TestSettings {
	var s TestSettings
	for _, v := range testVars {
		val := strings.TrimSpace(os.Getenv(v.Name))
		if val == "" {
			val = v.Default
		}
		*v.field(&s) = val
	}
	return s
}
