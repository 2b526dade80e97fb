package handlers

import (
	"fmt"
	"net/http"
	"net/netip"
	"sync"
)

// maxUploadsPerAddr bounds the uploads in flight from one client address.
// A person sends one batch at a time (of up to MaxFiles photos); more at
// once from one address is a script, or someone holding connections and
// temp files open.
const maxUploadsPerAddr = 4

// uploadSlots lets at most maxUploadsPerAddr requests per client address
// through at once, and answers the others 429 before reading their body.
// Each call makes its own count, so each app in a process has one.
func (h *Handler) uploadSlots(next http.Handler) http.Handler {
	var mu sync.Mutex
	inFlight := map[netip.Addr]int{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := clientIP(r)
		if addr.Is6() {
			// One IPv6 client usually holds a whole /64.
			addr = netip.PrefixFrom(addr, 64).Masked().Addr()
		}
		mu.Lock()
		full := inFlight[addr] >= maxUploadsPerAddr
		if !full {
			inFlight[addr]++
		}
		mu.Unlock()
		if full {
			w.Header().Set("Retry-After", "10")
			// Close rather than read the unwanted body to reuse the connection.
			w.Header().Set("Connection", "close")
			h.fail(w, r, http.StatusTooManyRequests, "Too many uploads at once", fmt.Sprintf(
				"%d uploads from your network address are still in progress. Wait for one to finish, then try again.", maxUploadsPerAddr))
			return
		}
		defer func() {
			mu.Lock()
			if inFlight[addr]--; inFlight[addr] == 0 {
				delete(inFlight, addr)
			}
			mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}
