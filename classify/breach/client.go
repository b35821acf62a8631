package breach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// DefaultURL is the base of HIBP's API, version 3.
const DefaultURL = "https://haveibeenpwned.com/api/v3"

// Errors of the API the caller may want to tell apart.
var (
	// ErrUnauthorized means HIBP refused the API key (401).
	ErrUnauthorized = errors.New("haveibeenpwned.com refused the API key (401): check HIBP_API_KEY")
	// ErrForbidden means the request was refused (403): no user agent, or the
	// key may not search this domain (it must be verified in the dashboard).
	ErrForbidden = errors.New("haveibeenpwned.com refused the request (403): the domain must be verified for this key in the HIBP dashboard")
	// ErrUnreachable means no answer came: no network, no DNS, a proxy or
	// firewall in the way.
	ErrUnreachable = errors.New("cannot reach haveibeenpwned.com")
)

// Client talks to the HIBP API. The API key is only ever sent as the
// hibp-api-key header; it is never part of an error or a log line.
type Client struct {
	BaseURL   string       // DefaultURL when empty
	APIKey    string       // for the keyed endpoints
	UserAgent string       // required by HIBP; "catchall" when empty
	HTTP      *http.Client // http.DefaultClient with a 60 s timeout when nil
	Logger    *slog.Logger // nil discards
	// MaxRetries bounds the retries after 429 Too Many Requests; zero means 5.
	MaxRetries int
	// Clock paces the keyed requests and times the waits after 429; nil
	// means the real clock. Tests give a fake one, so that no test
	// measures wall time.
	Clock clockwork.Clock

	mu       sync.Mutex
	interval time.Duration // between keyed requests, from the subscription's rate
	last     time.Time
}

func (c *Client) base() string {
	if c.BaseURL == "" {
		return DefaultURL
	}
	return strings.TrimRight(c.BaseURL, "/")
}

func (c *Client) clock() clockwork.Clock {
	if c.Clock == nil {
		return clockwork.NewRealClock()
	}
	return c.Clock
}

// sleep waits for d, or returns early when ctx ends.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := c.clock().NewTimer(d)
	defer t.Stop()
	select {
	case <-t.Chan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MaxRetryAfter caps the wait a 429's Retry-After asks for: the relay's
// poller, which also reloads the plan and the users file, waits in it.
const MaxRetryAfter = 5 * time.Minute

// maxAnswer bounds an answer read (the breach list is about 1 MB).
const maxAnswer = 8 << 20

// get performs a GET of path and decodes a JSON answer into out. It returns
// found=false for 404. keyed requests carry the key and are paced.
func (c *Client) get(ctx context.Context, path string, keyed bool, out any) (found bool, err error) {
	httpc := c.HTTP
	if httpc == nil {
		httpc = &http.Client{Timeout: 60 * time.Second}
	}
	retries := c.MaxRetries
	if retries == 0 {
		retries = 5
	}
	for attempt := 0; ; attempt++ {
		if keyed {
			if err := c.pace(ctx); err != nil {
				return false, err
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base()+path, nil)
		if err != nil {
			return false, err
		}
		ua := c.UserAgent
		if ua == "" {
			ua = "catchall"
		}
		req.Header.Set("User-Agent", ua)
		if keyed {
			req.Header.Set("hibp-api-key", c.APIKey)
		}
		resp, err := httpc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err // the URL is fine to show, but not needed twice
			}
			return false, fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		resp.Body.Close()
		if err != nil {
			return false, fmt.Errorf("reading haveibeenpwned.com's answer: %w", err)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			if err := json.Unmarshal(body, out); err != nil {
				return false, fmt.Errorf("haveibeenpwned.com sent an answer catchall cannot read: %v", err)
			}
			return true, nil
		case http.StatusNotFound:
			return false, nil
		case http.StatusUnauthorized:
			return false, ErrUnauthorized
		case http.StatusForbidden:
			return false, ErrForbidden
		case http.StatusTooManyRequests:
			if attempt >= retries {
				return false, fmt.Errorf("haveibeenpwned.com still says too many requests after %d retries", retries)
			}
			wait := time.Duration(2) * time.Second
			if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s >= 0 {
				wait = time.Duration(min(s, int(MaxRetryAfter/time.Second))) * time.Second
			}
			wait += time.Second // as HIBP asks: a second more than Retry-After
			if c.Logger != nil {
				c.Logger.Info("haveibeenpwned.com asks to slow down", "wait", wait)
			}
			if err := c.sleep(ctx, wait); err != nil {
				return false, err
			}
		default:
			return false, fmt.Errorf("haveibeenpwned.com answered %s", resp.Status)
		}
	}
}

// pace waits until the next keyed request is allowed.
func (c *Client) pace(ctx context.Context) error {
	c.mu.Lock()
	now := c.clock().Now()
	wait := max(c.last.Add(c.interval).Sub(now), 0)
	c.last = now.Add(wait)
	c.mu.Unlock()
	if wait > 0 {
		return c.sleep(ctx, wait)
	}
	return nil
}

// Breaches downloads the public breach list (no key needed).
func (c *Client) Breaches(ctx context.Context) ([]Breach, []byte, error) {
	var raw json.RawMessage
	if _, err := c.get(ctx, "/breaches", false, &raw); err != nil {
		return nil, nil, err
	}
	list, err := ParseBreaches(raw)
	return list, raw, err
}

// Subscription reads the key's rate limit (requests per minute) and paces
// keyed requests to it.
func (c *Client) Subscription(ctx context.Context) (rpm int, err error) {
	var st struct {
		SubscriptionName string `json:"SubscriptionName"`
		Rpm              int    `json:"Rpm"`
	}
	if _, err := c.get(ctx, "/subscription/status", true, &st); err != nil {
		return 0, err
	}
	rpm = st.Rpm
	if rpm <= 0 {
		rpm = 10 // the smallest subscription
	}
	c.mu.Lock()
	c.interval = time.Minute / time.Duration(rpm)
	c.mu.Unlock()
	return rpm, nil
}

// Account returns the breaches HIBP lists for one address; found is false
// when it lists none (404).
func (c *Client) Account(ctx context.Context, address string) ([]Breach, bool, error) {
	var list []Breach
	found, err := c.get(ctx, "/breachedaccount/"+url.PathEscape(address)+"?truncateResponse=false&includeUnverified=true", true, &list)
	return list, found, err
}

// Domain returns, for a domain verified for the key, the breach names per
// local part of every breached address at it.
func (c *Client) Domain(ctx context.Context, domain string) (map[string][]string, error) {
	out := map[string][]string{}
	if _, err := c.get(ctx, "/breacheddomain/"+url.PathEscape(domain), true, &out); err != nil {
		return nil, err
	}
	return out, nil
}
