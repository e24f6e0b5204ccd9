package state

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/rolecall/rolecall/callback"
)

// Format is the item format this package writes. A reader accepts items
// of this format and of any older one it knows how to read; a newer one is
// an error (ErrNewerFormat): a rollback to an older function must not
// misread what a newer one wrote.
const Format = 1

// ErrNewerFormat is wrapped by a read that met an item written by a newer
// version of rolecall.
var ErrNewerFormat = errors.New("state written by a newer rolecall")

// Key attribute names and partitions.
const (
	attrPK        = "pk"
	attrSK        = "sk"
	attrFormat    = "format"
	attrStatus    = "status"
	attrRoleARN   = "roleArn"
	attrVerified  = "verifiedAt"
	attrPermSet   = "permissionSet"
	attrAccount   = "account"
	partitionAcct = "ACCOUNT"
)

// maxAccountBytes bounds the compressed account entry kept per item (an
// item may hold 400 KB); a larger one is kept without its lists.
const maxAccountBytes = 256 << 10

// Record is what the store keeps about one account: its last verification.
type Record struct {
	AccountID string
	RoleARN   string
	Status    callback.Status
	// PermissionSet is the permission-set version the role was verified
	// against.
	PermissionSet string
	VerifiedAt    time.Time
	// Account is the account's entry as the vendor was last told it:
	// diagnoses, failed probes, findings and unproven checks.
	Account callback.Account
}

// dynamoAPI is the part of *dynamodb.Client the store uses.
type dynamoAPI interface {
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	dynamodb.QueryAPIClient
}

// Store reads and writes one onboarding's state table.
type Store struct {
	db    dynamoAPI
	table string
	// Workers bounds the writes in flight; zero means 8.
	Workers int
}

// New returns a store for the table.
func New(db dynamoAPI, table string) *Store { return &Store{db: db, table: table} }

// Table returns the table's name.
func (s *Store) Table() string { return s.table }

// Save records each account's verification. A record is replaced only by
// one verified later (a conditional write); an older result that loses
// that race is dropped, not an error. It returns how many records it
// wrote.
func (s *Store) Save(ctx context.Context, records []Record) (int, error) {
	workers := s.Workers
	if workers <= 0 {
		workers = 8
	}
	jobs := make(chan Record)
	var (
		mu      sync.Mutex
		written int
		errs    []error
		wg      sync.WaitGroup
	)
	for range min(workers, max(len(records), 1)) {
		wg.Go(func() {
			for r := range jobs {
				ok, err := s.put(ctx, r)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("account %s: %w", r.AccountID, err))
				} else if ok {
					written++
				}
				mu.Unlock()
			}
		})
	}
	for _, r := range records {
		if ctx.Err() != nil {
			break
		}
		jobs <- r
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return written, fmt.Errorf("save state in %s: %d of %d records not written: %w", s.table, len(errs), len(records), errors.Join(errs[:min(len(errs), 3)]...))
	}
	return written, nil
}

func (s *Store) put(ctx context.Context, r Record) (bool, error) {
	item, err := recordItem(r)
	if err != nil {
		return false, err
	}
	at := r.VerifiedAt.UTC()
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item:      item,
		// Replace only an older verification.
		ConditionExpression:       aws.String("attribute_not_exists(#v) OR #v < :v"),
		ExpressionAttributeNames:  map[string]string{"#v": attrVerified},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.FormatInt(at.UnixNano(), 10)}},
	})
	// A failed condition: a newer verification is on record.
	return applied(err, "write the record")
}

// Transition records r only if the account's status on record is still
// from ("" meaning: no record) and its verification is older than r's,
// and reports whether it did. Of two runs that saw the same change at
// once, exactly one wins and reports it; the other finds the condition
// failed and stays silent. With from equal to r.Status it refreshes a
// record whose status did not change, unless another run changed it
// meanwhile (and told the vendor).
func (s *Store) Transition(ctx context.Context, from callback.Status, r Record) (bool, error) {
	item, err := recordItem(r)
	if err != nil {
		return false, err
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}
	if from == "" {
		in.ConditionExpression = aws.String("attribute_not_exists(#sk)")
		in.ExpressionAttributeNames = map[string]string{"#sk": attrSK}
	} else {
		in.ConditionExpression = aws.String("#st = :from AND #v < :v")
		in.ExpressionAttributeNames = map[string]string{"#st": attrStatus, "#v": attrVerified}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":from": &types.AttributeValueMemberS{Value: string(from)},
			":v":    &types.AttributeValueMemberN{Value: strconv.FormatInt(r.VerifiedAt.UTC().UnixNano(), 10)},
		}
	}
	_, err = s.db.PutItem(ctx, in)
	return applied(err, "record account "+r.AccountID+" in "+s.table)
}

// ForgetIf removes an account's record only if its status is still
// status ("" meaning: whatever it is, as long as there is one), and
// reports whether it did (see Transition).
func (s *Store) ForgetIf(ctx context.Context, accountID string, status callback.Status) (bool, error) {
	in := &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key: map[string]types.AttributeValue{
			attrPK: &types.AttributeValueMemberS{Value: partitionAcct},
			attrSK: &types.AttributeValueMemberS{Value: accountID},
		},
		ConditionExpression:       aws.String("#st = :st"),
		ExpressionAttributeNames:  map[string]string{"#st": attrStatus},
		ExpressionAttributeValues: map[string]types.AttributeValue{":st": &types.AttributeValueMemberS{Value: string(status)}},
	}
	if status == "" {
		in.ConditionExpression = aws.String("attribute_exists(#sk)")
		in.ExpressionAttributeNames = map[string]string{"#sk": attrSK}
		in.ExpressionAttributeValues = nil
	}
	_, err := s.db.DeleteItem(ctx, in)
	return applied(err, "forget account "+accountID+" in "+s.table)
}

func recordItem(r Record) (map[string]types.AttributeValue, error) {
	blob, err := encodeAccount(r.Account)
	if err != nil {
		return nil, err
	}
	at := r.VerifiedAt.UTC()
	return map[string]types.AttributeValue{
		attrPK:       &types.AttributeValueMemberS{Value: partitionAcct},
		attrSK:       &types.AttributeValueMemberS{Value: r.AccountID},
		attrFormat:   &types.AttributeValueMemberN{Value: strconv.Itoa(Format)},
		attrStatus:   &types.AttributeValueMemberS{Value: string(r.Status)},
		attrRoleARN:  &types.AttributeValueMemberS{Value: r.RoleARN},
		attrPermSet:  &types.AttributeValueMemberS{Value: r.PermissionSet},
		attrVerified: &types.AttributeValueMemberN{Value: strconv.FormatInt(at.UnixNano(), 10)},
		attrAccount:  &types.AttributeValueMemberB{Value: blob},
	}, nil
}

// Forget removes the records of accounts that left the onboarding.
func (s *Store) Forget(ctx context.Context, accountIDs ...string) error {
	for _, id := range accountIDs {
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(s.table),
			Key: map[string]types.AttributeValue{
				attrPK: &types.AttributeValueMemberS{Value: partitionAcct},
				attrSK: &types.AttributeValueMemberS{Value: id},
			},
		}); err != nil {
			return fmt.Errorf("forget account %s in %s: %w", id, s.table, err)
		}
	}
	return nil
}

// All returns every account's record, by account id.
func (s *Store) All(ctx context.Context) (map[string]Record, error) {
	out := map[string]Record{}
	pages := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: partitionAcct}},
		ConsistentRead:            aws.Bool(true),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read state from %s: %w", s.table, err)
		}
		for _, item := range page.Items {
			r, err := decodeRecord(item)
			if err != nil {
				return nil, fmt.Errorf("read state from %s: %w", s.table, err)
			}
			out[r.AccountID] = r
		}
	}
	return out, nil
}

func decodeRecord(item map[string]types.AttributeValue) (Record, error) {
	str := func(k string) string { return str(item, k) }
	num := func(k string) (int64, error) { return num(item, k) }
	id := str(attrSK)
	format, err := num(attrFormat)
	if err != nil {
		return Record{}, fmt.Errorf("account %s: %w", id, err)
	}
	if format > Format {
		return Record{}, fmt.Errorf("account %s: item format %d, this rolecall reads up to %d: %w", id, format, Format, ErrNewerFormat)
	}
	at, err := num(attrVerified)
	if err != nil {
		return Record{}, fmt.Errorf("account %s: %w", id, err)
	}
	r := Record{
		AccountID:     id,
		RoleARN:       str(attrRoleARN),
		Status:        callback.Status(str(attrStatus)),
		PermissionSet: str(attrPermSet),
		VerifiedAt:    time.Unix(0, at).UTC(),
	}
	if b, ok := item[attrAccount].(*types.AttributeValueMemberB); ok {
		if r.Account, err = decodeAccount(b.Value); err != nil {
			return Record{}, fmt.Errorf("account %s: %w", id, err)
		}
	}
	return r, nil
}

// encodeAccount gzips an account entry's JSON, dropping its lists if it
// would not fit an item.
func encodeAccount(a callback.Account) ([]byte, error) {
	blob, err := gzipJSON(a)
	if err != nil || len(blob) <= maxAccountBytes {
		return blob, err
	}
	slim := callback.Account{AccountID: a.AccountID, RoleARN: a.RoleARN, Status: a.Status, FindingsTotal: max(a.FindingsTotal, len(a.Findings))}
	slim.Diagnoses = []callback.Diagnosis{{Code: "state_truncated", Message: "The full report was too large to keep; run the verify tool for details."}}
	return gzipJSON(slim)
}

func gzipJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return gzipBytes(b)
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gunzipBytes reads at most 8 MiB, far above any entry kept.
func gunzipBytes(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(zr, 8<<20))
}

func decodeAccount(b []byte) (callback.Account, error) {
	raw, err := gunzipBytes(b)
	if err != nil {
		return callback.Account{}, fmt.Errorf("account entry: %w", err)
	}
	var a callback.Account
	if err := json.Unmarshal(raw, &a); err != nil {
		return callback.Account{}, fmt.Errorf("account entry: %w", err)
	}
	return a, nil
}
