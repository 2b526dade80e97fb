package handlers

import (
	"net"
	"net/http"

	"github.com/realclientip/realclientip-go"
)

// clientAddr replaces RemoteAddr with the client's address from
// X-Forwarded-For when the request comes from one of TrustedProxies, so
// per-address limits and logs see the client rather than the proxy. The
// header of any other peer is ignored: a client could write anything there.
func (h *Handler) clientAddr() func(http.Handler) http.Handler {
	if len(h.TrustedProxies) == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	// The rightmost address that is not one of our proxies: entries further
	// left were written by the client and prove nothing.
	strategy, err := realclientip.NewRightmostTrustedRangeStrategy("X-Forwarded-For", h.TrustedProxies)
	if err != nil {
		panic(err) // only for a bad header name, which is a constant here
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if peer := net.IP(clientIP(r).AsSlice()); peer != nil && h.trusted(peer) {
				if ip := strategy.ClientIP(r.Header, r.RemoteAddr); ip != "" {
					r.RemoteAddr = ip
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func (h *Handler) trusted(ip net.IP) bool {
	for _, n := range h.TrustedProxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
