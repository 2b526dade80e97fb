package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"captionai/testutil"
	"captionai/vocab"
)

var tokenRE = regexp.MustCompile(`cai_[A-Za-z0-9_-]{43}`)

// apiClient sends requests with a bearer token and nothing else: no
// cookie jar, no redirects followed.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

type apiAnswer struct {
	code   int
	body   string
	header http.Header
}

func (a apiAnswer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(a.body), v); err != nil {
		t.Fatalf("%d %q: %v", a.code, a.body, err)
	}
}

func (c apiClient) do(method, path string, body io.Reader, hdr ...string) apiAnswer {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, body)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := apiAnswer{res.StatusCode, string(b), res.Header}
	// The rule of every token request: no session is made or sent.
	if sc := res.Header.Values("Set-Cookie"); c.token != "" && len(sc) > 0 {
		c.t.Errorf("%s %s with a token set a cookie: %q", method, path, sc)
	}
	return a
}

func (c apiClient) get(path string) apiAnswer { c.t.Helper(); return c.do("GET", path, nil) }

func (c apiClient) form(path string, vals url.Values, hdr ...string) apiAnswer {
	c.t.Helper()
	return c.do("POST", path, strings.NewReader(vals.Encode()), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, hdr...)...)
}

// upload sends n small photos in one request and returns their ids.
func (c apiClient) upload(n int, visibility string, hdr ...string) (apiAnswer, []string) {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if visibility != "" {
		mw.WriteField("visibility", visibility)
	}
	for i := range n {
		fw, _ := mw.CreateFormFile("image", fmt.Sprintf("p%d.jpg", i))
		fw.Write(testutil.JPEG(c.t, 24, 24))
	}
	mw.Close()
	a := c.do("POST", "/images", &body, append([]string{"Content-Type", mw.FormDataContentType(), "Accept", "application/json"}, hdr...)...)
	if a.code != http.StatusCreated {
		return a, nil
	}
	var res struct{ Images []struct{ ID string } }
	a.decode(c.t, &res)
	var ids []string
	for _, img := range res.Images {
		ids = append(ids, img.ID)
	}
	return a, ids
}

// newAPIToken makes a token on the tokens page as v (its session), by JSON.
func newAPIToken(t *testing.T, v *testutil.Visitor, name string) (id, token string) {
	t.Helper()
	code, body, _ := v.Form("/account/tokens", url.Values{"name": {name}}, "Accept", "application/json")
	if code != http.StatusCreated {
		t.Fatalf("creating token: %d %s", code, body)
	}
	var res struct{ ID, Name, Token string }
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if res.Name != name || !tokenRE.MatchString(res.Token) || res.ID == "" {
		t.Fatalf("created token: %s", body)
	}
	return res.ID, res.Token
}

func TestAPITokensPageShowsTokenOnceAndStoresOnlyItsHash(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	if code, _ := v.Get("/account/tokens"); code != http.StatusSeeOther {
		t.Errorf("anonymous tokens page: %d, want 303 to sign in", code)
	}
	v.Signup("tok@example.com", "tok password")
	if _, body := v.Get("/account"); !strings.Contains(body, `href="/account/tokens"`) {
		t.Error("the account page does not link to the tokens page")
	}
	if code, body := v.Get("/account/tokens"); code != http.StatusOK || !strings.Contains(body, "You have no tokens yet") {
		t.Fatalf("empty tokens page: %d %.300s", code, body)
	}

	// Made on the page: shown in the answer, and never again.
	code, body, hdr := v.Form("/account/tokens", url.Values{"name": {"  laptop script  "}})
	token := tokenRE.FindString(body)
	if code != http.StatusCreated || token == "" || !strings.Contains(body, "laptop script") || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("create on the page: %d %v %.500s", code, hdr, body)
	}
	_, body = v.Get("/account/tokens")
	if strings.Contains(body, token) || !strings.Contains(body, "laptop script") || !strings.Contains(body, "never") {
		t.Errorf("the list shows the token, or not its name: %.800s", body)
	}
	var hash []byte
	var row string
	if err := s.pool.QueryRow(context.Background(), `SELECT token_hash, row_to_json(t)::text FROM api_tokens t`).Scan(&hash, &row); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(token)); !bytes.Equal(hash, sum[:]) {
		t.Errorf("stored hash is not the token's SHA-256")
	}
	if strings.Contains(row, token) || strings.Contains(row, token[4:]) {
		t.Errorf("the row holds the token: %s", row)
	}

	// By JSON: the token in the answer, only ids and names in the list.
	jsonID, jsonToken := newAPIToken(t, v, "ci")
	code, body = v.Get("/account/tokens", "Accept", "application/json")
	var list struct {
		Tokens []map[string]any
	}
	json.Unmarshal([]byte(body), &list)
	if code != http.StatusOK || len(list.Tokens) != 2 || list.Tokens[0]["id"] != jsonID || list.Tokens[0]["name"] != "ci" ||
		strings.Contains(body, jsonToken) || strings.Contains(body, token) || strings.Contains(body, `"token"`) {
		t.Errorf("JSON list: %d %s", code, body)
	}

	// Names: required, at most 100 characters (not bytes).
	for name, want := range map[string]int{"": 422, "   ": 422, strings.Repeat("é", 101): 422, strings.Repeat("é", 100): 201} {
		if code, body, _ := v.Form("/account/tokens", url.Values{"name": {name}}, "Accept", "application/json"); code != want {
			t.Errorf("name of %d characters: %d %s, want %d", len([]rune(name)), code, body, want)
		}
	}
	if code, body, _ := v.Form("/account/tokens", url.Values{"name": {""}}); code != 422 || !strings.Contains(body, "Give the token a name") {
		t.Errorf("empty name on the page: %d %.300s", code, body)
	}

	// Revoking: the owner only; anyone else is told it does not exist.
	api := apiClient{t, s.URL, jsonToken}
	if a := api.get("/api/images"); a.code != http.StatusOK {
		t.Fatalf("token before revoking: %d %s", a.code, a.body)
	}
	other := testutil.NewVisitor(t, s.URL)
	other.Signup("other@example.com", "other password")
	for _, id := range []string{jsonID, uuid.NewString(), "not-an-id"} {
		if code, _, _ := other.Form("/account/tokens/"+id+"/revoke", nil); code != http.StatusNotFound {
			t.Errorf("revoking %s as another user: %d, want 404", id, code)
		}
	}
	if a := api.get("/api/images"); a.code != http.StatusOK {
		t.Fatalf("token after another user's revoke: %d", a.code)
	}
	if code, _, hdr := v.Form("/account/tokens/"+jsonID+"/revoke", nil); code != http.StatusSeeOther || hdr.Get("Location") != "/account/tokens" {
		t.Errorf("revoke: %d %v", code, hdr)
	}
	if _, body := v.Get("/account/tokens"); !strings.Contains(body, "revoked") || !strings.Contains(body, "The token is revoked") {
		t.Errorf("the page does not show the revoked token: %.800s", body)
	}
	if a := api.get("/api/images"); a.code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d %s", a.code, a.body)
	}
	// The page's token is still good; revoked by JSON it is not.
	page := apiClient{t, s.URL, token}
	if a := page.get("/api/images"); a.code != http.StatusOK {
		t.Fatalf("the other token: %d %s", a.code, a.body)
	}
	var pageID string
	s.pool.QueryRow(context.Background(), `SELECT id FROM api_tokens WHERE name = 'laptop script'`).Scan(&pageID)
	if code, body, _ := v.Form("/account/tokens/"+pageID+"/revoke", nil, "Accept", "application/json"); code != http.StatusNoContent {
		t.Errorf("revoke by JSON: %d %s", code, body)
	}
	if a := page.get("/api/images"); a.code != http.StatusUnauthorized {
		t.Errorf("token revoked by JSON: %d", a.code)
	}
}

func TestBearerTokenOnEachRoute(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	owner, other := testutil.NewVisitor(t, s.URL), testutil.NewVisitor(t, s.URL)
	owner.Signup("owner@example.com", "owner password")
	other.Signup("other@example.com", "other password")
	_, ownerToken := newAPIToken(t, owner, "owner's")
	_, otherToken := newAPIToken(t, other, "other's")
	api, theirs := apiClient{t, s.URL, ownerToken}, apiClient{t, s.URL, otherToken}

	a, ids := api.upload(1, vocab.Private)
	if a.code != http.StatusCreated || len(ids) != 1 {
		t.Fatalf("upload with a token: %d %s", a.code, a.body)
	}
	id := ids[0]
	var img struct{ ID, Status, Visibility, File string }
	if a := api.get("/api/images/" + id); a.code != http.StatusOK {
		t.Fatalf("GET /api/images/{id}: %d %s", a.code, a.body)
	} else if a.decode(t, &img); img.ID != id || img.Status != vocab.Queued || img.Visibility != vocab.Private || img.File != "/images/"+id+"/file" {
		t.Errorf("image: %+v", img)
	}
	var page struct {
		Images []struct{ ID string }
		Next   *string
	}
	if a := api.get("/api/images"); a.code != http.StatusOK {
		t.Fatalf("GET /api/images: %d %s", a.code, a.body)
	} else if a.decode(t, &page); len(page.Images) != 1 || page.Images[0].ID != id || page.Next != nil {
		t.Errorf("my images: %s", a.body)
	}
	if a := api.get("/api/gallery"); a.code != http.StatusOK || strings.Contains(a.body, id) {
		t.Errorf("gallery with a private image: %d %s", a.code, a.body)
	}

	// Another account's token sees neither the private image nor its
	// list, and cannot change it.
	if a := theirs.get("/api/images/" + id); a.code != http.StatusNotFound || !strings.Contains(a.body, `"error"`) {
		t.Errorf("another's private image: %d %s", a.code, a.body)
	}
	if a := theirs.form("/images/"+id+"/visibility", url.Values{"visibility": {vocab.Public}}); a.code != http.StatusNotFound {
		t.Errorf("another's visibility change of a private image: %d", a.code)
	}
	if a := theirs.get("/api/images"); strings.Contains(a.body, id) {
		t.Errorf("another's list holds the image: %s", a.body)
	}

	if a := api.form("/images/"+id+"/visibility", url.Values{"visibility": {vocab.Public}}); a.code != http.StatusSeeOther || a.header.Get("Location") != "/images/"+id {
		t.Fatalf("visibility with a token: %d %v %s", a.code, a.header, a.body)
	}
	s.captionAll(t) // the gallery lists captioned images only
	if a := api.get("/api/gallery?q="); a.code != http.StatusOK || !strings.Contains(a.body, id) {
		t.Errorf("gallery after making it public: %d %s", a.code, a.body)
	}
	if a := theirs.form("/images/"+id+"/visibility", url.Values{"visibility": {vocab.Private}}, "Accept", "application/json"); a.code != http.StatusForbidden {
		t.Errorf("another's visibility change of a public image: %d %s", a.code, a.body)
	}
	if a := theirs.get("/api/images/" + id); a.code != http.StatusOK {
		t.Errorf("another's public image: %d", a.code)
	}

	// The event stream takes the token too (headers only: no worker here).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/images/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+ownerToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" || len(res.Header.Values("Set-Cookie")) > 0 {
		t.Errorf("events with a token: %d %v", res.StatusCode, res.Header)
	}

	// Account and staff pages refuse tokens: a stolen one must not make
	// more tokens or delete the account.
	for _, path := range []string{"/account/tokens", "/account/delete", "/admin/images/bulk"} {
		if a := api.form(path, url.Values{"name": {"more"}, "confirm": {"DELETE"}}); a.code != http.StatusForbidden {
			t.Errorf("POST %s with a token: %d %s", path, a.code, a.body)
		}
	}
	if a := api.get("/api/images/" + id); a.code != http.StatusOK {
		t.Fatalf("the account is gone: %d", a.code)
	}

	// Tokens that do not work: 401, JSON, WWW-Authenticate.
	for name, tok := range map[string]string{
		"unknown":   "cai_" + strings.Repeat("A", 43),
		"malformed": "not-a-token",
		"no prefix": strings.Repeat("A", 47),
		"empty":     " ",
	} {
		a := apiClient{t, s.URL, tok}.get("/api/images")
		var e struct{ Error string }
		json.Unmarshal([]byte(a.body), &e)
		if a.code != http.StatusUnauthorized || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") || e.Error == "" {
			t.Errorf("%s token: %d %v %s", name, a.code, a.header, a.body)
		}
	}
	if a := (apiClient{t, s.URL, ""}).get("/api/images"); a.code != http.StatusUnauthorized || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("my images without a token: %d %v", a.code, a.header)
	}
	if a := (apiClient{t, s.URL, ""}).get("/api/images/not-an-id"); a.code != http.StatusNotFound || !strings.Contains(a.body, `"error"`) {
		t.Errorf("bad id under /api/: %d %s", a.code, a.body)
	}

	// A banned account's token stops working.
	if _, err := s.pool.Exec(context.Background(), `UPDATE users SET banned_at = now(), ban_reason = 'spam' WHERE email = 'other@example.com'`); err != nil {
		t.Fatal(err)
	}
	if a := theirs.get("/api/images"); a.code != http.StatusUnauthorized || !strings.Contains(a.body, "banned") {
		t.Errorf("banned account's token: %d %s", a.code, a.body)
	}
	var used *time.Time
	s.pool.QueryRow(context.Background(), `SELECT last_used_at FROM api_tokens WHERE name = 'owner''s'`).Scan(&used)
	if used == nil || time.Since(*used) > time.Minute {
		t.Errorf("last_used_at = %v", used)
	}
}

// The images of one upload share their creation time; pages must still
// hold each image exactly once.
func TestAPIPagesHoldEveryImageOnce(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	v.Signup("pages@example.com", "pages password")
	_, token := newAPIToken(t, v, "pages")
	api := apiClient{t, s.URL, token}
	var want []string
	for _, n := range []int{1, 5, 1, 3} {
		a, ids := api.upload(n, vocab.Public)
		if a.code != http.StatusCreated {
			t.Fatalf("upload: %d %s", a.code, a.body)
		}
		want = append(want, ids...)
	}
	s.captionAll(t)
	for _, path := range []string{"/api/images", "/api/gallery"} {
		for _, limit := range []int{1, 2, 3, 100} {
			var got []string
			var last time.Time
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > len(want) {
					t.Fatalf("%s limit %d: no end", path, limit)
				}
				var p struct {
					Images []struct {
						ID        string
						CreatedAt time.Time `json:"created_at"`
					}
					Next *string
				}
				a := api.get(fmt.Sprintf("%s?limit=%d&cursor=%s", path, limit, url.QueryEscape(cursor)))
				if a.code != http.StatusOK {
					t.Fatalf("%s: %d %s", path, a.code, a.body)
				}
				a.decode(t, &p)
				if len(p.Images) > limit {
					t.Fatalf("%s: %d images, limit %d", path, len(p.Images), limit)
				}
				for _, img := range p.Images {
					if !last.IsZero() && img.CreatedAt.After(last) {
						t.Errorf("%s: not newest first", path)
					}
					last = img.CreatedAt
					got = append(got, img.ID)
				}
				if p.Next == nil {
					break
				}
				cursor = *p.Next
			}
			if len(got) != len(want) || !sameSet(got, want) {
				t.Errorf("%s limit %d: got %d images %v, want each of %d once", path, limit, len(got), got, len(want))
			}
		}
	}
	// ?before= a time: only images created strictly before it.
	var first struct {
		Images []struct {
			CreatedAt time.Time `json:"created_at"`
		}
	}
	api.get("/api/images?limit=1").decode(t, &first)
	var older struct{ Images []struct{ ID string } }
	api.get("/api/images?before="+url.QueryEscape(first.Images[0].CreatedAt.Format(time.RFC3339Nano))).decode(t, &older)
	if len(older.Images) != len(want)-3 {
		t.Errorf("before the newest upload: %d images, want %d", len(older.Images), len(want)-3)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=garbage", "cursor=" + url.QueryEscape("bm90IGEgY3Vyc29y"), "before=yesterday"} {
		if a := api.get("/api/images?" + q); a.code != http.StatusBadRequest || !strings.Contains(a.body, `"error"`) {
			t.Errorf("?%s: %d %s", q, a.code, a.body)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Tokens skip the cross-origin check, since a browser never sends one by
// itself; cookies still go through it, and both at once are refused.
func TestCrossOriginCheckIsSkippedOnlyForTokens(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	v := testutil.NewVisitor(t, s.URL)
	v.Signup("csrf@example.com", "csrf password")
	_, token := newAPIToken(t, v, "csrf")
	api := apiClient{t, s.URL, token}
	crossSite := []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}

	a, ids := api.upload(1, "", crossSite...)
	if a.code != http.StatusCreated {
		t.Fatalf("cross-site upload with a token: %d %s", a.code, a.body)
	}
	if a := api.form("/images/"+ids[0]+"/visibility", url.Values{"visibility": {vocab.Public}}, crossSite...); a.code != http.StatusSeeOther {
		t.Errorf("cross-site visibility change with a token: %d %s", a.code, a.body)
	}
	if code, _ := v.Upload("", crossSite...); code != http.StatusForbidden {
		t.Errorf("cross-site upload with a cookie: %d, want 403", code)
	}
	if code, _, _ := v.Form("/images/"+ids[0]+"/visibility", url.Values{"visibility": {vocab.Private}}, crossSite...); code != http.StatusForbidden {
		t.Errorf("cross-site visibility change with a cookie: %d, want 403", code)
	}
	both := append([]string{"Cookie", "captionai_session=" + v.Cookie()}, crossSite...)
	if a := api.form("/images/"+ids[0]+"/visibility", url.Values{"visibility": {vocab.Private}}, both...); a.code != http.StatusBadRequest ||
		!strings.Contains(a.body, "either a token or a cookie") {
		t.Errorf("token and cookie: %d %s", a.code, a.body)
	}
	if a := api.get("/api/images/" + ids[0]); !strings.Contains(a.body, `"visibility":"public"`) {
		t.Errorf("a refused request changed the image: %s", a.body)
	}
}

// The OpenAPI document covers every /api/ route and the other routes a
// token is meant for, and names no route that does not exist.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	a := apiClient{t, s.URL, ""}.get("/api/openapi.json")
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage
	}
	if a.code != http.StatusOK || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("openapi.json: %d %v", a.code, a.header)
	}
	a.decode(t, &doc)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	routes := map[string]bool{}
	err := chi.Walk(s.h.Routes().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"POST /images", "POST /images/{id}/visibility", "GET /images/{id}/events", "GET /batches/{id}/events"} {
		if !routes[r] {
			t.Errorf("route %s is gone", r)
		}
		if !documented[r] {
			t.Errorf("token route %s is not documented", r)
		}
	}
	for r := range routes {
		if strings.Contains(r, " /api/") && !documented[r] {
			t.Errorf("route %s is not documented", r)
		}
	}
	for d := range documented {
		if !routes[d] {
			t.Errorf("documented %s is not a route", d)
		}
	}
}
