package relay

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/catchall/catchall/internal/safeio"
)

// planMarker is the spool file that remembers which plan this relay last
// imported, into which store: "SHA256 STORE-IDENTITY". A relay starting, or seeing
// its plan file touched, imports the plan only when it differs.
const planMarker = "plan.imported"

// planSum returns the plan file's content hash, with the store it goes to.
func (r *Relay) planSum() (string, error) {
	f, err := os.Open(r.cfg.Plan)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	// The store by its identity, not its URL: another sslmode or timeout
	// is the same store, and must not bring back an old copy of the plan.
	return hex.EncodeToString(h.Sum(nil)) + " " + r.store.db.id, nil
}

// importedSum returns what setImportedSum recorded; "" if nothing.
func (r *Relay) importedSum() string {
	b, err := os.ReadFile(filepath.Join(r.cfg.Spool, planMarker))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// setImportedSum records the plan just imported. A failure to write it
// only means the plan is imported once more at the next start.
func (r *Relay) setImportedSum(sum string) {
	if err := safeio.WriteFile(filepath.Join(r.cfg.Spool, planMarker), []byte(sum+"\n")); err != nil {
		r.log.Warn("cannot record the imported plan; it is imported again at the next start", "err", err)
	}
}
