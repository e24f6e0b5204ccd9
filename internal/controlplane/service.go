package controlplane

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rolecall/rolecall/callback"
	"github.com/rolecall/rolecall/internal/profile"
	"github.com/rolecall/rolecall/internal/vault"
	"github.com/rolecall/rolecall/internal/vendordb"
)

// Config configures a Service.
type Config struct {
	DB      *vendordb.DB
	Keys    *vault.Keyring
	Profile *profile.Profile
	// Partitions whose customers are accepted; empty means the profile's
	// enabled partitions. STSEndpoint and STSRegion replace them with one
	// endpoint (a local emulator's, in the rehearsal).
	Partitions  []string
	STSEndpoint string
	STSRegion   string
	// Confirmer, if set, confirms every reported role with the vendor's
	// own credentials. Nil: roles are not confirmed, and a rotation closes
	// on the customer's rotated callback.
	Confirmer Confirmer
	// MaxBodyBytes bounds a callback body; zero means 16 MiB.
	MaxBodyBytes int64
	// STSClient reaches STS for identity proofs; nil means a default client.
	STSClient callback.HTTPClient
	// Out receives one line per callback handled; nil discards.
	Out    io.Writer
	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader
}

// Service is the control plane. It is safe for concurrent use.
type Service struct {
	db      *vendordb.DB
	keys    *vault.Keyring
	profile *profile.Profile
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	rand    io.Reader

	outMu sync.Mutex
	out   io.Writer

	confirming sync.WaitGroup
	// inflight keeps one confirmation per organization running.
	inflightMu sync.Mutex
	inflight   map[string]bool
	queued     map[string]*confirmJob
	baseCtx    context.Context
	stop       context.CancelFunc
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Keys == nil || cfg.Profile == nil {
		return nil, errors.New("control plane: a database, a keyring and a vendor profile are required")
	}
	s := &Service{
		db: cfg.DB, keys: cfg.Keys, profile: cfg.Profile, cfg: cfg,
		log:      cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:      cfg.Now,
		rand:     cmp.Or[io.Reader](cfg.Rand, rand.Reader),
		out:      cmp.Or[io.Writer](cfg.Out, io.Discard),
		inflight: map[string]bool{},
		queued:   map[string]*confirmJob{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, 16<<20)
	if s.cfg.STSClient == nil {
		s.cfg.STSClient = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if len(s.cfg.Partitions) == 0 {
		s.cfg.Partitions = cfg.Profile.EnabledPartitions()
	}
	s.baseCtx, s.stop = context.WithCancel(context.Background())
	// Check the settings once, at start, with a throwaway secret.
	probe, err := callback.GenerateSecret(nil)
	if err != nil {
		return nil, err
	}
	if _, err := s.verifier("", []string{probe}); err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	return s, nil
}

// Close waits for the confirmations in flight (until ctx is done, when
// they are cancelled).
func (s *Service) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.confirming.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.stop()
		<-done
		return ctx.Err()
	}
}

// WaitConfirmations waits until no confirmation is running or queued.
func (s *Service) WaitConfirmations() { s.confirming.Wait() }

// DB returns the service's database.
func (s *Service) DB() *vendordb.DB { return s.db }

// verifier builds the verifier of one customer's callbacks: its secrets
// only, the replay cache in the database under its id.
func (s *Service) verifier(customerID string, secrets []string) (*callback.Verifier, error) {
	return callback.NewVerifier(callback.VerifierConfig{
		Secrets:     secrets,
		Audience:    s.profile.Callback.Audience,
		Partitions:  s.cfg.Partitions,
		STSEndpoint: s.cfg.STSEndpoint,
		STSRegion:   s.cfg.STSRegion,
		ReplayCache: replayCache{db: s.db, customerID: customerID, now: s.now},
		HTTPClient:  s.cfg.STSClient,
		Now:         s.now,
	})
}

// replayCache is a customer's slice of the database's replay cache.
type replayCache struct {
	db         *vendordb.DB
	customerID string
	now        func() time.Time
}

func (c replayCache) Add(ctx context.Context, id string, expires time.Time) (bool, error) {
	return c.db.ReplayAdd(ctx, c.customerID, id, expires, c.now())
}

func (c replayCache) Remove(ctx context.Context, id string) error {
	return c.db.ReplayRemove(ctx, c.customerID, id)
}

// hashExternalID is the stored, one-way form of an external ID: SHA-256 of
// a value with 240 random bits (see newExternalID).
func hashExternalID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// The sealed columns and their additional data: a sealed value opens only
// in the row and column it was written to.
func aadSecret(customerID string) string     { return "customers/" + customerID + "/secret" }
func aadExternalID(customerID string) string { return "customers/" + customerID + "/external_id" }
func aadPendingID(customerID string) string {
	return "customers/" + customerID + "/pending_external_id"
}
func (s *Service) openSecret(c *vendordb.Customer) (string, error) {
	b, err := s.keys.Open(c.SecretSealed, aadSecret(c.ID))
	if err != nil {
		return "", fmt.Errorf("customer %s: open its callback secret: %w", c.ID, err)
	}
	return string(b), nil
}

func (s *Service) openExternalID(c *vendordb.Customer, pending bool) (string, error) {
	sealed, aad := c.ExternalIDSealed, aadExternalID(c.ID)
	if pending {
		sealed, aad = c.PendingExternalIDSealed, aadPendingID(c.ID)
	}
	b, err := s.keys.Open(sealed, aad)
	if err != nil {
		return "", fmt.Errorf("customer %s: open its external ID: %w", c.ID, err)
	}
	return string(b), nil
}

func (s *Service) printf(format string, args ...any) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	fmt.Fprintf(s.out, format, args...)
}

// randomToken returns n characters of lowercase base32 (5 bits each).
func (s *Service) randomToken(n int) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(alphabet[c&31])
	}
	return sb.String(), nil
}
