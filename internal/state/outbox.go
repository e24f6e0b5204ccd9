package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// The outbox keeps the callbacks the function could not deliver, one item
// each under the partition "OUTBOX", keyed by the event id: a second run
// that keeps the same event adds nothing. Every later run re-sends them,
// oldest first, before its own.
const (
	partitionOutbox = "OUTBOX"
	partitionMeta   = "META"
	attrCreated     = "createdAt"
	attrEvent       = "event"
	attrBody        = "body"
	attrOwner       = "owner"
	attrExpires     = "expiresAt"
	attrDropped     = "dropped"
	attrRevision    = "revision"
	attrAt          = "at"
	keyDropped      = "dropped"
	keyHeartbeat    = "heartbeat"
)

// Bounds of the outbox. An entry beyond either is dropped, and the drop
// is counted and reported with the next callback delivered.
const (
	// MaxPending is how many callbacks the outbox keeps: a scheduled run
	// twice a day adds at most a few, so 200 is weeks of an outage.
	MaxPending = 200
	// MaxPendingAge is how long an entry is kept: longer than any vendor
	// outage worth replaying; after that, the next heartbeat and a
	// verification tell the present better than a backlog.
	MaxPendingAge = 14 * 24 * time.Hour
	// maxBodyBytes bounds an entry's compressed body (an item holds at
	// most 400 KB with its keys and attributes).
	maxBodyBytes = 350 << 10
)

// ErrTooLarge is returned by Enqueue for a callback whose compressed body
// does not fit an item.
var ErrTooLarge = errors.New("callback too large for the outbox")

// Pending is one callback waiting in the outbox.
type Pending struct {
	// ID is the callback's event id, sent again unchanged.
	ID    string
	Event string
	// Body is the payload as it was first marshalled: re-sent as is, with
	// its original occurred_at.
	Body      []byte
	CreatedAt time.Time
}

// Enqueue keeps callbacks in the outbox. An id already kept is left as it
// is. A body too large for an item is not kept (ErrTooLarge, joined with
// any other error); the caller counts it as dropped.
func (s *Store) Enqueue(ctx context.Context, entries ...Pending) error {
	var errs []error
	for _, e := range entries {
		blob, err := gzipBytes(e.Body)
		if err != nil {
			errs = append(errs, fmt.Errorf("outbox %s: %w", e.ID, err))
			continue
		}
		if len(blob) > maxBodyBytes {
			errs = append(errs, fmt.Errorf("outbox %s: %d bytes compressed: %w", e.ID, len(blob), ErrTooLarge))
			continue
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table),
			Item: map[string]types.AttributeValue{
				attrPK:      &types.AttributeValueMemberS{Value: partitionOutbox},
				attrSK:      &types.AttributeValueMemberS{Value: e.ID},
				attrFormat:  &types.AttributeValueMemberN{Value: strconv.Itoa(Format)},
				attrEvent:   &types.AttributeValueMemberS{Value: e.Event},
				attrCreated: &types.AttributeValueMemberN{Value: strconv.FormatInt(e.CreatedAt.UnixNano(), 10)},
				attrBody:    &types.AttributeValueMemberB{Value: blob},
			},
			ConditionExpression:      aws.String("attribute_not_exists(#sk)"),
			ExpressionAttributeNames: map[string]string{"#sk": attrSK},
		})
		// A failed condition: the callback is kept already.
		if _, err := applied(err, "keep callback "+e.ID+" in the outbox of "+s.table); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Pending returns the callbacks in the outbox, oldest first (ties by id).
func (s *Store) Pending(ctx context.Context) ([]Pending, error) {
	var out []Pending
	err := s.query(ctx, partitionOutbox, func(item map[string]types.AttributeValue) error {
		p := Pending{ID: str(item, attrSK), Event: str(item, attrEvent)}
		if err := checkFormat(item, p.ID); err != nil {
			return err
		}
		at, err := num(item, attrCreated)
		if err != nil {
			return fmt.Errorf("outbox %s: %w", p.ID, err)
		}
		p.CreatedAt = time.Unix(0, at).UTC()
		b, ok := item[attrBody].(*types.AttributeValueMemberB)
		if !ok {
			return fmt.Errorf("outbox %s: no body", p.ID)
		}
		if p.Body, err = gunzipBytes(b.Value); err != nil {
			return fmt.Errorf("outbox %s: %w", p.ID, err)
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the outbox of %s: %w", s.table, err)
	}
	slices.SortFunc(out, func(a, b Pending) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Remove takes callbacks out of the outbox: delivered, or dropped.
func (s *Store) Remove(ctx context.Context, ids ...string) error {
	for _, id := range ids {
		if err := s.delete(ctx, partitionOutbox, id); err != nil {
			return fmt.Errorf("remove callback %s from the outbox of %s: %w", id, s.table, err)
		}
	}
	return nil
}

// Expired returns the entries of pending beyond the outbox's bounds at
// now: older than MaxPendingAge, or beyond the newest MaxPending.
func Expired(pending []Pending, now time.Time) []Pending {
	var out []Pending
	over := len(pending) - MaxPending
	for i, p := range pending {
		if i < over || now.Sub(p.CreatedAt) > MaxPendingAge {
			out = append(out, p)
		}
	}
	return out
}

// Dropped returns how many callbacks the outbox gave up on since the count
// was last reset, and the count's revision for ResetDropped.
func (s *Store) Dropped(ctx context.Context) (n int, revision int64, err error) {
	item, err := s.get(ctx, partitionMeta, keyDropped)
	if err != nil || item == nil {
		return 0, 0, err
	}
	d, err := num(item, attrDropped)
	if err != nil {
		return 0, 0, err
	}
	r, err := num(item, attrRevision)
	return int(d), r, err
}

// AddDropped adds n to the count of callbacks given up on. It retries when
// another run changed the count at the same time.
func (s *Store) AddDropped(ctx context.Context, n int) error {
	for range 10 {
		cur, rev, err := s.Dropped(ctx)
		if err != nil {
			return err
		}
		ok, err := s.putDropped(ctx, cur+n, rev)
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("count dropped callbacks in %s: too many concurrent changes", s.table)
}

// ResetDropped subtracts n, the count a delivered callback reported, if
// the count is still at revision (else drops made since are kept, and the
// next callback reports the total again: reported twice rather than lost).
func (s *Store) ResetDropped(ctx context.Context, n int, revision int64) error {
	cur, rev, err := s.Dropped(ctx)
	if err != nil || rev != revision || n == 0 {
		return err
	}
	_, err = s.putDropped(ctx, max(cur-n, 0), rev)
	return err
}

func (s *Store) putDropped(ctx context.Context, n int, revision int64) (bool, error) {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrPK:       &types.AttributeValueMemberS{Value: partitionMeta},
			attrSK:       &types.AttributeValueMemberS{Value: keyDropped},
			attrFormat:   &types.AttributeValueMemberN{Value: strconv.Itoa(Format)},
			attrDropped:  &types.AttributeValueMemberN{Value: strconv.Itoa(n)},
			attrRevision: &types.AttributeValueMemberN{Value: strconv.FormatInt(revision+1, 10)},
		},
		ConditionExpression:       aws.String("attribute_not_exists(#sk) OR #r = :r"),
		ExpressionAttributeNames:  map[string]string{"#sk": attrSK, "#r": attrRevision},
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": &types.AttributeValueMemberN{Value: strconv.FormatInt(revision, 10)}},
	})
	return applied(err, "count dropped callbacks in "+s.table)
}

// AcquireLease takes the named lease for owner until expires, if no other
// owner holds one that is still valid at now. A run that cannot take it
// leaves the shared work (the outbox, the heartbeat) to the holder.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, now, expires time.Time) (bool, error) {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrPK:      &types.AttributeValueMemberS{Value: partitionMeta},
			attrSK:      &types.AttributeValueMemberS{Value: "lease#" + name},
			attrFormat:  &types.AttributeValueMemberN{Value: strconv.Itoa(Format)},
			attrOwner:   &types.AttributeValueMemberS{Value: owner},
			attrExpires: &types.AttributeValueMemberN{Value: strconv.FormatInt(expires.UnixNano(), 10)},
		},
		ConditionExpression:      aws.String("attribute_not_exists(#sk) OR #o = :o OR #e < :now"),
		ExpressionAttributeNames: map[string]string{"#sk": attrSK, "#o": attrOwner, "#e": attrExpires},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":o":   &types.AttributeValueMemberS{Value: owner},
			":now": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixNano(), 10)},
		},
	})
	return applied(err, "take the "+name+" lease in "+s.table)
}

// ReleaseLease gives the lease back if owner still holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key: map[string]types.AttributeValue{
			attrPK: &types.AttributeValueMemberS{Value: partitionMeta},
			attrSK: &types.AttributeValueMemberS{Value: "lease#" + name},
		},
		ConditionExpression:       aws.String("#o = :o"),
		ExpressionAttributeNames:  map[string]string{"#o": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": &types.AttributeValueMemberS{Value: owner}},
	})
	// A failed condition: the lease expired and another run took it.
	_, err = applied(err, "release the "+name+" lease in "+s.table)
	return err
}

// ClaimHeartbeat records a heartbeat at now if the last one is at least
// every old, and reports whether this run won the claim: of two runs at
// once, one sends the heartbeat.
func (s *Store) ClaimHeartbeat(ctx context.Context, now time.Time, every time.Duration) (bool, error) {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrPK:     &types.AttributeValueMemberS{Value: partitionMeta},
			attrSK:     &types.AttributeValueMemberS{Value: keyHeartbeat},
			attrFormat: &types.AttributeValueMemberN{Value: strconv.Itoa(Format)},
			attrAt:     &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixNano(), 10)},
		},
		ConditionExpression:       aws.String("attribute_not_exists(#sk) OR #a <= :due"),
		ExpressionAttributeNames:  map[string]string{"#sk": attrSK, "#a": attrAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":due": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(-every).UnixNano(), 10)}},
	})
	return applied(err, "record the heartbeat in "+s.table)
}

// query calls each for every item of partition pk.
func (s *Store) query(ctx context.Context, pk string, each func(map[string]types.AttributeValue) error) error {
	pages := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(true),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, item := range page.Items {
			if err := each(item); err != nil {
				return err
			}
		}
	}
	return nil
}

// get reads one item (a strongly consistent Query of one key: the
// function's policy grants Query, not GetItem); nil when absent.
func (s *Store) get(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("#pk = :pk AND #sk = :sk"),
		ExpressionAttributeNames: map[string]string{
			"#pk": attrPK, "#sk": attrSK,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk},
			":sk": &types.AttributeValueMemberS{Value: sk},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read %s/%s from %s: %w", pk, sk, s.table, err)
	}
	if len(out.Items) == 0 {
		return nil, nil
	}
	if err := checkFormat(out.Items[0], pk+"/"+sk); err != nil {
		return nil, err
	}
	return out.Items[0], nil
}

func (s *Store) delete(ctx context.Context, pk, sk string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key: map[string]types.AttributeValue{
			attrPK: &types.AttributeValueMemberS{Value: pk},
			attrSK: &types.AttributeValueMemberS{Value: sk},
		},
	})
	return err
}

// applied reads the answer to a conditional write: true when it was made,
// false with no error when its condition failed (another run's write
// came first), and any other error wrapped with what the write was for.
func applied(err error, what string) (bool, error) {
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "ConditionalCheckFailedException":
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return true, nil
}

func str(item map[string]types.AttributeValue, k string) string {
	if v, ok := item[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func num(item map[string]types.AttributeValue, k string) (int64, error) {
	v, ok := item[k].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %s missing", k)
	}
	return strconv.ParseInt(v.Value, 10, 64)
}

// checkFormat refuses an item written by a newer rolecall.
func checkFormat(item map[string]types.AttributeValue, what string) error {
	f, err := num(item, attrFormat)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if f > Format {
		return fmt.Errorf("%s: item format %d, this rolecall reads up to %d: %w", what, f, Format, ErrNewerFormat)
	}
	return nil
}
