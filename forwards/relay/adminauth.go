package relay

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// AdminSessionTTL is how long a login to a remote admin listener lasts.
const AdminSessionTTL = 12 * time.Hour

// sessionCookie names the admin session's cookie.
const sessionCookie = "catchall_session"

// maxAdminSessions bounds the sessions kept at once; the oldest go first.
const maxAdminSessions = 1000

// adminAuth guards the admin listener. On loopback (remote false) nothing
// needs a login; elsewhere (TLS and Config.Users, see Config.Validate) the
// API and /metrics need a session made by POST /login, and every change
// its CSRF token.
type adminAuth struct {
	r      *Relay
	remote bool
	limit  *authLimiter // failed logins per client address

	mu       sync.Mutex
	sessions map[string]*adminSession // by session id
}

type adminSession struct {
	user, csrf string
	expires    time.Time
	hash       [sha256.Size]byte // userPrint at login: a removed user or a new password ends the session
}

// userPrint returns a fingerprint of name's password hash in u (false
// when u has no such user), so that a session can tell that its user was
// removed or given a new password without keeping the hash itself.
func userPrint(u *Users, name string) ([sha256.Size]byte, bool) {
	if u == nil {
		return [sha256.Size]byte{}, false
	}
	h, ok := u.hashes[name]
	if !ok {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256([]byte(h)), true
}

func newAdminAuth(r *Relay) *adminAuth {
	return &adminAuth{r: r, remote: r.cfg.Admin != "" && !adminLoopback(r.cfg.Admin),
		limit: newAuthLimiter(r.cfg.AuthFailures, r.cfg.AuthLockout), sessions: map[string]*adminSession{}}
}

// adminLoopback reports whether the admin address is on loopback.
func adminLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// isChange reports whether a request changes something (CSRF matters).
func isChange(req *http.Request) bool {
	return req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != http.MethodOptions
}

// sameOrigin reports whether req came from the admin's own pages: an
// Origin header, when present, must be the listener's own scheme, host and
// port. On loopback the host must also be a loopback name, so that a page
// whose name was made to resolve to 127.0.0.1 (DNS rebinding) does not
// pass as the admin's own.
func (a *adminAuth) sameOrigin(req *http.Request) bool {
	if !a.remote && !loopbackHost(req.Host) {
		return false
	}
	origin := req.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Path != "" || u.User != nil {
		return false
	}
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	if u.Scheme != scheme {
		return false
	}
	if a.remote {
		return strings.EqualFold(u.Host, req.Host)
	}
	_, port, err := net.SplitHostPort(u.Host)
	_, want, _ := net.SplitHostPort(req.Host)
	if la, ok := req.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		_, want, _ = net.SplitHostPort(la.String())
	}
	return err == nil && port == want && loopbackHost(u.Host)
}

// loopbackHost reports whether a Host header names a loopback address.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return isLoopback(host)
}

// session returns the request's live session, or nil.
func (a *adminAuth) session(req *http.Request) *adminSession {
	c, err := req.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	var fp [sha256.Size]byte
	ok := false
	if s != nil {
		fp, ok = userPrint(a.r.users.Load(), s.user)
	}
	if s == nil || !a.r.cfg.Clock.Now().Before(s.expires) || !ok || fp != s.hash {
		delete(a.sessions, c.Value)
		return nil
	}
	return s
}

// wrap guards next: see adminAuth and the package documentation.
func (a *adminAuth) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		path := req.URL.Path
		if path == "/healthz" {
			switch {
			case !a.remote && !loopbackHost(req.Host):
				apiError(w, http.StatusForbidden, "cross-origin request refused") // DNS rebinding, as for the API
			case a.remote && a.session(req) == nil:
				// A probe without a login learns the status only, not the
				// queue, errors or names that Health holds.
				code, st := http.StatusOK, a.r.Health().Status
				if st != "ok" {
					code = http.StatusServiceUnavailable
				}
				writeJSON(w, code, map[string]string{"status": st})
			default:
				next.ServeHTTP(w, req)
			}
			return
		}
		if strings.HasPrefix(path, "/static/") && req.Method == http.MethodGet {
			next.ServeHTTP(w, req) // the dashboard's script and style, the same for everyone
			return
		}
		if !a.sameOrigin(req) {
			apiError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		if path == "/login" && a.remote {
			a.login(w, req)
			return
		}
		if isChange(req) {
			mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
			if mt != "application/json" {
				apiError(w, http.StatusUnsupportedMediaType, "changes need Content-Type: application/json")
				return
			}
		}
		if !a.remote {
			if path == "/api/session" {
				writeJSON(w, http.StatusOK, map[string]any{"login": false})
				return
			}
			next.ServeHTTP(w, req)
			return
		}
		s := a.session(req)
		if s == nil && path == "/" && req.Method == http.MethodGet {
			loginForm(w, http.StatusUnauthorized, "")
			return
		}
		if s == nil {
			apiError(w, http.StatusUnauthorized, "log in first (POST /login)")
			return
		}
		if isChange(req) && subtle.ConstantTimeCompare([]byte(req.Header.Get("X-CSRF-Token")), []byte(s.csrf)) != 1 {
			apiError(w, http.StatusForbidden, "missing or wrong X-CSRF-Token")
			return
		}
		if path == "/logout" {
			a.logout(w, req)
			return
		}
		if path == "/api/session" {
			writeJSON(w, http.StatusOK, map[string]any{"login": true, "user": s.user, "csrf": s.csrf, "expires": s.expires.UTC().Format(time.RFC3339)})
			return
		}
		next.ServeHTTP(w, req)
	})
}

// login is POST /login: user and password as a form or JSON; a session
// cookie and the CSRF token on success. The dashboard's login form (a form
// with next=/) is answered with a redirect to / instead, and its failures
// with the form again. Failures are counted per client
// address (an IPv6 /64): after Config.AuthFailures within
// Config.AuthLockout, 429 until the lockout has passed.
func (a *adminAuth) login(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		apiError(w, http.StatusMethodNotAllowed, "POST user and password")
		return
	}
	key := clientKeyString(req.RemoteAddr)
	now := a.r.cfg.Clock.Now()
	fail := apiError
	// The attempt is reserved before the password is checked (failures
	// plus attempts in flight), so parallel logins cannot overrun the limit.
	if !a.limit.reserve(key, now) {
		fail(w, http.StatusTooManyRequests, "too many failed logins from your address; try again later")
		return
	}
	defer a.limit.release(key)
	var creds struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		if err := decodeJSON(req.Body, &creds); err != nil {
			apiError(w, http.StatusBadRequest, "body: "+err.Error())
			return
		}
	case "application/x-www-form-urlencoded":
		req.Body = http.MaxBytesReader(w, req.Body, maxAPIBody)
		if err := req.ParseForm(); err != nil {
			apiError(w, http.StatusBadRequest, "form: "+err.Error())
			return
		}
		creds.User, creds.Password = req.PostForm.Get("user"), req.PostForm.Get("password")
		if req.PostForm.Get("next") == "/" {
			fail = loginForm
		}
	default:
		apiError(w, http.StatusUnsupportedMediaType, "log in with a form or application/json")
		return
	}
	u := a.r.users.Load()
	if u == nil || creds.User == "" || !u.Check(creds.User, creds.Password) {
		a.limit.fail(key, now)
		a.r.log.Info("admin login refused", "client", key) // never the user or password typed
		fail(w, http.StatusUnauthorized, "wrong user or password")
		return
	}
	s := &adminSession{user: creds.User, csrf: randomToken(), expires: now.Add(AdminSessionTTL)}
	s.hash, _ = userPrint(u, creds.User)
	id := randomToken()
	a.mu.Lock()
	for k, o := range a.sessions {
		if !now.Before(o.expires) {
			delete(a.sessions, k)
		}
	}
	for len(a.sessions) >= maxAdminSessions {
		var oldest string
		for k, o := range a.sessions {
			if oldest == "" || o.expires.Before(a.sessions[oldest].expires) {
				oldest = k
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[id] = s
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", Expires: s.expires,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	a.r.log.Info("admin login", "user", s.user, "client", key)
	if req.PostForm.Get("next") == "/" {
		http.Redirect(w, req, "/", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": s.user, "csrf": s.csrf, "expires": s.expires.UTC().Format(time.RFC3339)})
}

// logout is POST /logout (with the CSRF token, checked by wrap): the
// session ends and its cookie is expired.
func (a *adminAuth) logout(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		apiError(w, http.StatusMethodNotAllowed, "POST to log out")
		return
	}
	if c, err := req.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]any{"login": false})
}

// clientKeyString is clientKey for an http.Request's RemoteAddr.
func clientKeyString(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	return clientKey(&net.TCPAddr{IP: ip})
}
