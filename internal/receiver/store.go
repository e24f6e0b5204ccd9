package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/ledger"
)

// maxEventIDs bounds the accepted ids an Onboarding remembers.
const maxEventIDs = 512

// maxTimeline bounds an Onboarding's timeline; the oldest entries go first.
const maxTimeline = 10000

// The onboarding model is the ledger's.
type (
	Onboarding     = ledger.Onboarding
	Heartbeat      = ledger.Heartbeat
	TimelineEntry  = ledger.TimelineEntry
	TimelineChange = ledger.TimelineChange
	EventRef       = ledger.EventRef
	Outcome        = ledger.Outcome
)

// Onboarding states and Apply's outcomes.
const (
	StatusActive     = ledger.StatusActive
	StatusPaused     = ledger.StatusPaused
	StatusFailed     = ledger.StatusFailed
	OutcomeStored    = ledger.OutcomeStored
	OutcomeDuplicate = ledger.OutcomeDuplicate
	OutcomeStale     = ledger.OutcomeStale
)

var (
	// ErrNotFound: no onboarding is stored under the key.
	ErrNotFound = errors.New("no onboarding stored")
	// ErrManagementAccountChanged: see ledger.
	ErrManagementAccountChanged = ledger.ErrManagementAccountChanged
)

// KeyOf returns the key p is stored under.
func KeyOf(p *callback.Payload) string { return ledger.KeyOf(p) }

// Store keeps one JSON file per organization in a directory. Every write
// goes to a temporary file in the same directory, is synced, and is renamed
// over the old file, so a reader sees the old or the new file, never part
// of one. Its methods are safe for concurrent use within one process;
// two processes must not share a directory.
type Store struct {
	dir string
	mu  sync.Mutex
	// syncFile flushes a written file; tests replace it to fail.
	syncFile func(*os.File) error
}

// OpenStore opens (creating if needed) a store in dir.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return &Store{dir: dir, syncFile: (*os.File).Sync}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

var keyPattern = regexp.MustCompile(`^(o-[a-z0-9]{10,32}|[0-9]{12})$`)

// Get returns the onboarding stored under key (an organization id, or a
// management account id for a single-account stack).
func (s *Store) Get(ctx context.Context, key string) (*Onboarding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.read(key)
}

// Seen reports whether the onboarding p belongs to has accepted id.
func (s *Store) Seen(ctx context.Context, p *callback.Payload, id string) (bool, error) {
	o, err := s.Get(ctx, KeyOf(p))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.Contains(o.EventIDs, id), nil
}

// Apply merges a verified message into its organization's onboarding
// (ledger.Apply) and writes it. An id already accepted changes nothing
// (OutcomeDuplicate).
func (s *Store) Apply(ctx context.Context, m *callback.Message, receivedAt time.Time) (Outcome, *Onboarding, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	p := &m.Payload
	key := KeyOf(p)
	management := ledger.ManagementAccountOf(p)
	s.mu.Lock()
	defer s.mu.Unlock()

	o, err := s.read(key)
	switch {
	case errors.Is(err, ErrNotFound):
		o = ledger.New(p)
	case err != nil:
		return "", nil, err
	case o.ManagementAccountID != management:
		return "", nil, fmt.Errorf("%w: %s is stored under %s, not %s", ErrManagementAccountChanged, key, o.ManagementAccountID, management)
	case slices.Contains(o.EventIDs, m.ID):
		return OutcomeDuplicate, o, nil
	}
	outcome, entry := ledger.Apply(o, m, receivedAt)
	o.Timeline = append(o.Timeline, entry)
	if n := len(o.Timeline); n > maxTimeline {
		o.Timeline = slices.Clone(o.Timeline[n-maxTimeline:])
	}
	o.EventIDs = append(o.EventIDs, m.ID)
	if n := len(o.EventIDs); n > maxEventIDs {
		o.EventIDs = slices.Clone(o.EventIDs[n-maxEventIDs:])
	}
	if err := s.write(key, o); err != nil {
		return "", nil, err
	}
	return outcome, o, nil
}

func (s *Store) path(key string) (string, error) {
	if !keyPattern.MatchString(key) {
		return "", fmt.Errorf("store: %q is not an organization or account id", key)
	}
	return filepath.Join(s.dir, key+".json"), nil
}

func (s *Store) read(key string) (*Onboarding, error) {
	path, err := s.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w under %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("read onboarding %s: %w", key, err)
	}
	var o Onboarding
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("read onboarding %s: %w", key, err)
	}
	return &o, nil
}

// write replaces key's file atomically: temporary file in the same
// directory, fsync, rename, fsync of the directory.
func (s *Store) write(key string, o *Onboarding) (err error) {
	path, err := s.path(key)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return fmt.Errorf("write onboarding %s: %w", key, err)
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(s.dir, "."+key+".*.tmp")
	if err != nil {
		return fmt.Errorf("write onboarding %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("write onboarding %s: %w", key, err)
	}
	if err := s.syncFile(tmp); err != nil {
		return fmt.Errorf("write onboarding %s: sync: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write onboarding %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write onboarding %s: %w", key, err)
	}
	return syncDir(s.dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
