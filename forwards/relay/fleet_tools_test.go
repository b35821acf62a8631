package relay

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/catchall/catchall/internal/testtools"
)

// The fleet tests run two catchall relay binaries on one PostgreSQL store
// (Debian's server, a private cluster scripts/test.sh starts), each with
// its own spool, smtp-sink as their smarthost.

// fleet is the shared setup: a plan, a burner secret, the sink, the store.
type fleet struct {
	t      *testing.T
	bin    string
	dir    string
	plan   string
	secret string
	pg     *testtools.Postgres
	sink   *toolSink
}

func newFleet(t *testing.T) *fleet {
	bin := needTools(t)
	pg := testtools.NeedPostgres(t)
	dir := toolsDir(t, "catchall-fleet")
	var plan strings.Builder
	plan.WriteString("alias,tag,action,forward_to\n")
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&plan, "a%d@fleet.example,business,forward,me@dest.example\n", i)
	}
	f := &fleet{t: t, bin: bin, dir: dir, pg: pg, plan: filepath.Join(dir, "plan.csv"), secret: filepath.Join(dir, "burner.secret")}
	os.WriteFile(f.plan, []byte(plan.String()), 0o600)
	os.WriteFile(f.secret, []byte("fleet-secret-fleet-secret-fleet-secret\n"), 0o600)
	f.sink = startToolSink(t, filepath.Join(dir, "sink"), testtools.FreePort(t))
	return f
}

// instance starts a relay named name on the shared store; withPlan gives
// it the plan file (one instance imports it, the others serve the store).
func (f *fleet) instance(name string, withPlan bool, extra ...string) *relayProc {
	t := f.t
	port, adminPort := testtools.FreePort(t), testtools.FreePort(t)
	args := []string{"relay", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--domain", "fleet.example",
		"--spool", filepath.Join(f.dir, name+"-spool"), "--store", f.pg.URL,
		"--smarthost", fmt.Sprintf("smtp+plain://127.0.0.1:%d", f.sink.port), "--forward-to", "me@dest.example",
		"--admin", fmt.Sprintf("127.0.0.1:%d", adminPort), "--burner-secret-file", f.secret,
		"--rate-limit", "0", "--max-connections-per-ip", "200", "--retry-min", "500ms", "--retry-max", "1s", "--hostname", name + ".test"}
	if withPlan {
		args = append(args, "--plan", f.plan)
	}
	p := &relayProc{t: t, bin: f.bin, log: filepath.Join(f.dir, name+".log"), args: append(args, extra...),
		addr: fmt.Sprintf("127.0.0.1:%d", port), admin: fmt.Sprintf("127.0.0.1:%d", adminPort)}
	p.start()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.signal(syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, tail(readFile(p.log), 30))
		}
	})
	return p
}

// apiJSON sends a JSON request to a relay's admin API.
func apiJSON(t *testing.T, p *relayProc, method, path string, body any) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, "http://"+p.admin+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// tracker sends messages with its own Message-IDs to a relay and records
// which got 250 and which got a 5xx.
type tracker struct {
	mu      sync.Mutex
	got250  map[string]string // Message-ID → alias
	fivexx  []string
	stop    chan struct{}
	wg      sync.WaitGroup
	counter atomic.Int64
}

func track(name string, addrs []string, aliases []string, senders int, pace time.Duration) *tracker {
	tr := &tracker{got250: map[string]string{}, stop: make(chan struct{})}
	for s := range senders {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-tr.stop:
					return
				default:
				}
				n := tr.counter.Add(1)
				addr, alias := addrs[int(n)%len(addrs)], aliases[int(n)%len(aliases)]
				id := fmt.Sprintf("<%s-%d-%d@test>", name, s, i)
				msg := "From: t@sender.test\r\nSubject: fleet\r\nMessage-Id: " + id + "\r\n\r\nbody\r\n"
				err := plainSend(addr, "t@sender.test", alias, msg)
				var se *smtp.SMTPError
				tr.mu.Lock()
				switch {
				case err == nil:
					tr.got250[id] = alias
				case errors.As(err, &se) && se.Code >= 500:
					tr.fivexx = append(tr.fivexx, fmt.Sprintf("%s via %s: %v", alias, addr, err))
				}
				tr.mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(pace)
			}
		}()
	}
	return tr
}

func (tr *tracker) end() {
	close(tr.stop)
	tr.wg.Wait()
}

// drained waits until no spool has queued messages.
func drained(t *testing.T, spools ...string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		n := 0
		for _, s := range spools {
			n += queued(t, s)
		}
		if n == 0 {
			time.Sleep(300 * time.Millisecond) // the sink writes its last files
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("messages still queued after 2 minutes")
}

// TestToolsFleet: two relays, one PostgreSQL store. A has the plan; B
// serves it from the store; a block on A's dashboard API is refused by B
// within a second; a burner made on A is known to B; A killed with -9
// under load: B keeps serving, and after A restarts everything A answered
// 250 to arrives (once, but for the deliveries in flight at the kill).
func TestToolsFleet(t *testing.T) {
	f := newFleet(t)
	a := f.instance("a", true)
	b := f.instance("b", false)

	t.Run("plan imported by A is served by B", func(t *testing.T) {
		for _, rc := range []struct {
			rcpt string
			want int
		}{{"a1@fleet.example", 250}, {"a20@fleet.example", 250}, {"nobody@fleet.example", 550}} {
			if code := rcptCode(t, b.addr, rc.rcpt); code != rc.want {
				t.Errorf("B: RCPT %s: %d, want %d", rc.rcpt, code, rc.want)
			}
		}
	})

	t.Run("block on A refused by B within 1s", func(t *testing.T) {
		if code := rcptCode(t, b.addr, "a5@fleet.example"); code != 250 {
			t.Fatalf("B before the block: %d", code)
		}
		// Five blocks and five unblocks, each at B within a second: the
		// store's 2 s poll alone would make that for one change in two,
		// for all ten one time in a thousand — it is NOTIFY that does it.
		var took []string
		for round := range 10 {
			action, want := "block", 550
			if round%2 == 1 {
				action, want = "forward", 250
			}
			start := time.Now()
			resp := apiJSON(t, a, "PATCH", "/api/aliases/a5@fleet.example", map[string]string{"action": action})
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("PATCH %s on A: %s", action, resp.Status)
			}
			for {
				code := rcptCode(t, b.addr, "a5@fleet.example")
				if code == want {
					took = append(took, time.Since(start).Round(time.Millisecond).String())
					break
				}
				if time.Since(start) > time.Second {
					t.Fatalf("%s on A: B still answers %d %s later (earlier changes took %v)", action, code, time.Since(start), took)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		t.Logf("B followed A's blocks and unblocks after %v", took)
	})

	t.Run("burner made on A is accepted and known at B", func(t *testing.T) {
		resp := apiJSON(t, a, "POST", "/api/burners", map[string]string{"service": "shop", "note": "made on A"})
		var out struct{ Alias string }
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != 200 || out.Alias == "" {
			t.Fatalf("POST /api/burners on A: %s %+v", resp.Status, out)
		}
		if code := rcptCode(t, b.addr, out.Alias); code != 250 {
			t.Errorf("B: RCPT %s: %d", out.Alias, code)
		}
		eventually(t, "B lists the burner with A's note", func() bool {
			resp, err := http.Get("http://" + b.admin + "/api/aliases")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var rows []map[string]any
			json.NewDecoder(resp.Body).Decode(&rows)
			for _, r := range rows {
				if r["alias"] == out.Alias && r["note"] == "made on A" {
					return true
				}
			}
			return false
		})
	})

	t.Run("kill -9 A under load", func(t *testing.T) {
		aliases := []string{"a2@fleet.example", "a3@fleet.example", "a4@fleet.example"}
		toA := track("to-a", []string{a.addr}, aliases, 3, 0)
		toB := track("to-b", []string{b.addr}, aliases, 3, 0)
		time.Sleep(700 * time.Millisecond)
		toB.mu.Lock()
		bBefore := len(toB.got250)
		toB.mu.Unlock()
		a.signal(syscall.SIGKILL)
		t.Logf("A killed with %d messages in its queue", queued(t, filepath.Join(f.dir, "a-spool")))
		time.Sleep(time.Second) // B alone
		toB.mu.Lock()
		bDuring := len(toB.got250) - bBefore
		toB.mu.Unlock()
		a.start()
		time.Sleep(500 * time.Millisecond)
		toA.end()
		toB.end()
		if len(toB.fivexx)+len(toA.fivexx) > 0 {
			t.Errorf("5xx for valid aliases: %v %v", toA.fivexx, toB.fivexx)
		}
		drained(t, filepath.Join(f.dir, "a-spool"), filepath.Join(f.dir, "b-spool"))
		ids := f.sink.ids()
		missing, dups := 0, 0
		for _, tr := range []*tracker{toA, toB} {
			for id := range tr.got250 {
				switch n := ids[id]; {
				case n == 0:
					missing++
					t.Errorf("%s got 250 but never arrived", id)
				case n > 1:
					dups += n - 1
				}
			}
		}
		t.Logf("A: %d got 250, B: %d (%d while A was down); missing %d, duplicated %d", len(toA.got250), len(toB.got250), bDuring, missing, dups)
		if bDuring == 0 {
			t.Error("B took nothing while A was down")
		}
		// A delivery in flight at the kill (smtp-sink had the final dot, A
		// had not yet removed the message) is made again after the restart:
		// at most one per delivery worker (4). SMTP has no way to make it
		// idempotent (RFC 1047).
		if dups > 4 {
			t.Errorf("%d duplicate deliveries after one kill, want at most the 4 in flight", dups)
		}
	})
}

// TestToolsStoreOutage: PostgreSQL stopped for 60 s under load on two
// relays, one of them restarted in the middle. No message that got 250 is
// lost, no valid alias gets a 5xx, a burner first seen during the outage
// is served (also by the restarted relay), and when the store is back the
// queued writes are replayed: its statistics count every delivered
// message exactly, and the burner is registered.
func TestToolsStoreOutage(t *testing.T) {
	f := newFleet(t)
	a := f.instance("a", true)
	// B takes its submission accounts from the store (loopback: no TLS).
	sub := fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))
	b := f.instance("b", false, "--users", "store", "--submission", sub)
	add := exec.Command(f.bin, "relay", "user", "add", "anna", "--store", f.pg.URL)
	add.Stdin = strings.NewReader("anna's long password\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("relay user add --store: %v\n%s", err, out)
	}
	eventually(t, "anna can log in at B", func() bool { return submissionLogin(sub, "anna", "anna's long password") == nil })
	aliases := []string{"a6@fleet.example", "a7@fleet.example", "a8@fleet.example"}
	load := track("outage", []string{a.addr, b.addr}, aliases, 4, 10*time.Millisecond)
	time.Sleep(time.Second)
	f.pg.Stop(t)
	stopped := time.Now()
	burner, err := exec.Command(f.bin, "burner", "new", "outage", "--domain", "fleet.example", "--burner-secret-file", f.secret).Output()
	if err != nil {
		t.Fatal(err)
	}
	burnerAddr := strings.TrimSpace(string(burner))
	time.Sleep(2 * time.Second)
	for _, p := range []*relayProc{a, b} {
		if code := rcptCode(t, p.addr, burnerAddr); code != 250 {
			t.Errorf("new burner during the outage at %s: %d", p.addr, code)
		}
		// (the load takes only 250 and 5xx: ask for a known alias too)
		if code := rcptCode(t, p.addr, "a9@fleet.example"); code != 250 {
			t.Errorf("a known alias during the outage at %s: %d, want 250 from memory", p.addr, code)
		}
	}
	var h Health
	resp, err := http.Get("http://" + a.admin + "/healthz")
	if err == nil {
		json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
	}
	if h.StoreReachable || h.Store.Reachable || h.Store.Engine != "postgres" {
		t.Errorf("/healthz during the outage: %+v", h.Store)
	}
	if err := plainSend(b.addr, "t@sender.test", burnerAddr, "From: t@sender.test\r\nMessage-Id: <outage-burner@test>\r\n\r\nx\r\n"); err != nil {
		t.Errorf("mail to the new burner during the outage: %v", err)
	}
	// B stopped and started again while the store is down: it comes back
	// from the snapshot in its spool, with its queued writes and counts.
	time.Sleep(2 * time.Second)
	if err := b.signal(syscall.SIGTERM); err != nil {
		t.Errorf("stopping B: %v", err)
	}
	b.unhealthyOK = true
	b.start()
	for _, rcpt := range []string{"a6@fleet.example", burnerAddr} {
		if code := rcptCode(t, b.addr, rcpt); code != 250 {
			t.Errorf("B restarted during the outage: RCPT %s: %d", rcpt, code)
		}
	}
	if !strings.Contains(readFile(b.log), "serving the aliases of its snapshot") {
		t.Error("B's log does not say it started from its snapshot")
	}
	// Its users came back from the snapshot too: anna can still send.
	if err := submissionLogin(sub, "anna", "anna's long password"); err != nil {
		t.Errorf("B restarted during the outage: anna's login: %v", err)
	}
	if err := submissionLogin(sub, "anna", "a wrong password"); err == nil {
		t.Error("B restarted during the outage: a wrong password logs in")
	}
	time.Sleep(time.Until(stopped.Add(60 * time.Second)))
	f.pg.Start(t)
	t.Logf("PostgreSQL down for %s", time.Since(stopped).Round(time.Second))
	time.Sleep(2 * time.Second)
	load.end()
	if len(load.fivexx) > 0 {
		t.Errorf("%d 5xx replies for valid aliases, first: %s", len(load.fivexx), load.fivexx[0])
	}
	drained(t, filepath.Join(f.dir, "a-spool"), filepath.Join(f.dir, "b-spool"))
	ids := f.sink.ids()
	want := map[string]int64{}
	for id, alias := range load.got250 {
		if ids[id] != 1 {
			t.Errorf("%s got 250 and arrived %d times", id, ids[id])
		}
		want[alias]++
	}
	want[burnerAddr] = 1
	// Statistics are flushed every 2 s; then every count must be there.
	var got map[string]int64
	deadline := time.Now().Add(15 * time.Second)
	for {
		got = fleetStats(t, f)
		if maps.Equal(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !maps.Equal(got, want) {
		t.Errorf("forwarded counts in the store %v, want %v (the messages delivered)", got, want)
	}
	t.Logf("%d messages took 250 across the outage; forwarded counts %v", len(load.got250), got)
}

// submissionLogin logs in at a submission port with AUTH PLAIN (loopback,
// no TLS) and says what the relay answered.
func submissionLogin(addr, user, password string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.Auth(sasl.NewPlainClient("", user, password)); err != nil {
		return err
	}
	return c.Quit()
}

// fleetStats reads the forwarded counts from the store with relay stats.
func fleetStats(t *testing.T, f *fleet) map[string]int64 {
	// With the password in a file, as the template unit's setup keeps it.
	pwFile := filepath.Join(f.dir, "store.password")
	if err := os.WriteFile(pwFile, []byte(f.pg.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(f.bin, "relay", "stats", "--store", f.pg.URL, "--store-password-file", pwFile, "--spool", f.dir, "--format", "csv")
	cmd.Env = append(os.Environ(), "CATCHALL_STORE_PASSWORD=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("relay stats: %v", err)
	}
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("relay stats csv: %v\n%s", err, out)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	got := map[string]int64{}
	for _, r := range recs[1:] {
		if n, _ := strconv.ParseInt(r[col["forwarded"]], 10, 64); n > 0 {
			got[r[col["alias"]]] = n
		}
	}
	return got
}
