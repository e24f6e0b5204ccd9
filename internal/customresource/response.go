package customresource

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/cfn"
)

const (
	// maxBodyBytes is CloudFormation's limit on a response body.
	maxBodyBytes = 4096
	// maxReasonRunes is where a Reason is cut. The console shows about
	// this much, and it leaves the rest of the body to Data.
	maxReasonRunes = 256

	// idPrefix starts the physical ID the runtime gives a Create.
	idPrefix = "rolecall-"
	// failedCreatePrefix starts the physical ID of a failed Create. It
	// cannot collide with idPrefix+logicalID: logical IDs are alphanumeric.
	failedCreatePrefix = "rolecall-failed-create-"

	// truncatedKey is the Data key that says Data was cut to fit the body.
	truncatedKey = "DataTruncated"
	// truncatedKeyRoom is room kept for truncatedKey and its value.
	truncatedKeyRoom = 128
	// minShortenedBytes is the encoded size below which a string value is
	// never shortened (it is dropped whole if need be): a value cut that
	// short says nothing.
	minShortenedBytes = 128

	ellipsis = "…"
)

// answer is what the runtime tells CloudFormation about one event.
type answer struct {
	status     cfn.StatusType
	physicalID string
	reason     string
	data       map[string]any
	noEcho     bool
}

// physicalID is the ID the runtime gives a resource on Create. It depends
// only on the stack and the logical ID, so it is the same on every attempt
// and for the life of the stack.
func physicalID(stackID, logicalID string) string {
	return idPrefix + idPart(logicalID) + "-" + shortHash(stackID, logicalID)
}

// failedCreateID is the marker ID answered for a failed Create; a Delete
// that carries it succeeds at once.
func failedCreateID(stackID, logicalID string) string {
	return failedCreatePrefix + idPart(logicalID) + "-" + shortHash(stackID, logicalID)
}

// idPart keeps the characters a logical ID may hold, so that a malformed
// event cannot make an ID long or strange.
func idPart(logicalID string) string {
	s := strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return -1
	}, logicalID)
	return clipBytes(s, 128)
}

func shortHash(stackID, logicalID string) string {
	h := sha256.Sum256([]byte(stackID + "\x00" + logicalID))
	return hex.EncodeToString(h[:6])
}

// encodeResponse returns the response body for an answer, never longer than
// maxBodyBytes, with the response as sent and a note when Data was cut.
func encodeResponse(ev cfn.Event, a answer) ([]byte, cfn.Response, string) {
	resp := cfn.Response{
		Status:             a.status,
		RequestID:          ev.RequestID,
		LogicalResourceID:  ev.LogicalResourceID,
		StackID:            ev.StackID,
		PhysicalResourceID: a.physicalID,
		Reason:             trimReason(a.reason, maxReasonRunes),
		NoEcho:             a.noEcho,
	}
	if resp.Status == cfn.StatusFailed && resp.Reason == "" {
		// CloudFormation requires a Reason with FAILED.
		resp.Reason = "failed without a reason"
	}
	// Without Data, a Response is strings and a bool: it always encodes.
	body, _ := marshal(resp)

	var note string
	if len(a.data) > 0 {
		resp.Data = a.data
		b, err := marshal(resp)
		if err != nil || len(b) > maxBodyBytes {
			room := maxBodyBytes - len(body) - len(`,"Data":`)
			resp.Data, note = capData(a.data, room)
			b, err = marshal(resp)
		}
		if err != nil {
			// capData leaves only encodable values; keep the body without Data.
			resp.Data, note = nil, "dropped all Data: it cannot be encoded"
		} else {
			body = b
		}
	}
	if len(body) <= maxBodyBytes {
		return body, resp, note
	}

	// Only an event whose identifiers parseEvent rejected gets here: they
	// are echoed verbatim, so cut them, and the rest, until the body fits.
	// CloudFormation will not accept such a response, but nothing better
	// can be sent.
	resp.Data, note = nil, "dropped all Data: the event's identifiers fill the response"
	resp.Reason = trimReason(resp.Reason, 64)
	for _, f := range []*string{&resp.StackID, &resp.RequestID, &resp.LogicalResourceID, &resp.PhysicalResourceID} {
		*f = clipBytes(*f, 128)
	}
	body, _ = marshal(resp)
	return body, resp, note
}

// marshal encodes v as JSON without escaping <, > and &: the body is read
// by CloudFormation, not a browser, and escaping would triple their size.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// trimReason makes s one line of valid UTF-8 and cuts it to max runes,
// ending in an ellipsis when it was cut.
func trimReason(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:max-1])) + ellipsis
}

// clip cuts s to at most max runes, ending in an ellipsis when it was cut.
func clip(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max-1]) + ellipsis
}

// clipBytes cuts s to at most max bytes on a rune boundary.
func clipBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// dataEntry is one key of Data with its encoded size.
type dataEntry struct {
	key     string
	value   any
	keySize int // encoded size of the key
	valSize int // encoded size of the value
}

func (e dataEntry) size() int { return e.keySize + 1 + e.valSize + 1 } // "k":v and a comma

// capData returns a copy of data whose JSON encoding fits in room bytes,
// and a note saying what was cut, or "" if nothing was.
//
// It works in three deterministic steps. Values that cannot be encoded are
// dropped. Then, while the map is too big, the longest string value
// (ties broken by key) is shortened just enough to fit, but never below
// minShortenedBytes, with an ellipsis. Then, while it is still too big,
// whole keys are dropped, largest first (ties broken by key), which keeps
// as many keys as possible. If anything was cut, truncatedKey says so.
func capData(data map[string]any, room int) (map[string]any, string) {
	var (
		entries     []dataEntry
		unencodable int
	)
	for k, v := range data {
		kb, err1 := marshal(k)
		vb, err2 := marshal(v)
		if err1 != nil || err2 != nil {
			unencodable++
			continue
		}
		entries = append(entries, dataEntry{key: k, value: v, keySize: len(kb), valSize: len(vb)})
	}
	slices.SortFunc(entries, func(a, b dataEntry) int { return strings.Compare(a.key, b.key) })

	total := 1 // the braces, less the comma after the last entry
	for _, e := range entries {
		total += e.size()
	}
	over := total - (room - truncatedKeyRoom)

	// Shorten string values, longest first.
	shortened := 0
	if over > 0 {
		order := make([]int, 0, len(entries))
		for i, e := range entries {
			if _, ok := e.value.(string); ok && e.valSize > minShortenedBytes {
				order = append(order, i)
			}
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(entries[b].valSize, entries[a].valSize) })
		for _, i := range order {
			if over <= 0 {
				break
			}
			e := &entries[i]
			target := max(minShortenedBytes, e.valSize-over)
			s := shortenEncoded(e.value.(string), target)
			enc, _ := marshal(s)
			over -= e.valSize - len(enc)
			e.value, e.valSize = s, len(enc)
			shortened++
		}
	}

	// Drop whole keys, largest first.
	dropped := make(map[int]bool)
	if over > 0 {
		order := make([]int, len(entries))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(entries[b].size(), entries[a].size()) })
		for _, i := range order {
			if over <= 0 {
				break
			}
			dropped[i] = true
			over -= entries[i].size()
		}
	}

	out := make(map[string]any, len(entries)-len(dropped)+1)
	for i, e := range entries {
		if !dropped[i] {
			out[e.key] = e.value
		}
	}
	if shortened == 0 && len(dropped) == 0 && unencodable == 0 {
		return out, ""
	}
	note := fmt.Sprintf("dropped %d of %d keys, shortened %d values to fit the %d-byte response",
		len(dropped)+unencodable, len(data), shortened, maxBodyBytes)
	out[truncatedKey] = note
	return out, note
}

// shortenEncoded cuts s, ending it in an ellipsis, so that its JSON
// encoding is at most max bytes (max must leave room for the quotes and the
// ellipsis). It measures with the encoder itself, so escapes are counted
// exactly.
func shortenEncoded(s string, max int) string {
	r := []rune(strings.ToValidUTF8(s, "\uFFFD"))
	fits := func(n int) bool {
		b, _ := marshal(string(r[:n]) + ellipsis)
		return len(b) <= max
	}
	lo, hi := 0, len(r) // fits(lo) holds for max >= 5; find the largest such n
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return string(r[:lo]) + ellipsis
}
