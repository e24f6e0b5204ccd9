package callback

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// SchemaFile is the path of the payload's JSON Schema inside this package's
// directory; the same file is embedded.
const SchemaFile = "schema/payload-v1.json"

// schemaID is the $id of SchemaFile.
const schemaID = "urn:rolecall:callback:payload:v1"

//go:embed schema/payload-v1.json
var schemaFS embed.FS

// Schema returns the payload's JSON Schema (draft 2020-12), as committed.
func Schema() []byte {
	b, err := schemaFS.ReadFile(SchemaFile)
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}

var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	return CompileSchema(Schema())
})

// CompileSchema compiles a payload schema document, asserting formats
// (date-time), as Validate and Verify do.
func CompileSchema(doc []byte) (*jsonschema.Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("read payload schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(schemaID, v); err != nil {
		return nil, fmt.Errorf("load payload schema: %w", err)
	}
	s, err := c.Compile(schemaID)
	if err != nil {
		return nil, fmt.Errorf("compile payload schema: %w", err)
	}
	return s, nil
}

// validateSchema checks a JSON document against the payload schema. Errors
// wrap ErrInvalidPayload.
func validateSchema(body []byte) error {
	s, err := compiledSchema()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: not JSON: %v", ErrInvalidPayload, err)
	}
	if err := s.Validate(inst); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidPayload, schemaErrorSummary(err))
	}
	return nil
}

// printer words schema errors. Building it loads golang.org/x/text's
// catalog, milliseconds a function's cold start need not pay: only a
// failed validation uses it.
var printer = sync.OnceValue(func() *message.Printer { return message.NewPrinter(language.English) })

// schemaErrorSummary turns a validation error into one line: the first
// leaf cause, which names the property and the rule it broke.
func schemaErrorSummary(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	loc := "/"
	if len(ve.InstanceLocation) > 0 {
		loc = ""
		for _, p := range ve.InstanceLocation {
			loc += "/" + p
		}
	}
	return fmt.Sprintf("at %s: %s", loc, ve.ErrorKind.LocalizedString(printer()))
}
