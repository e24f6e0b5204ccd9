package cfnyaml

import (
	"reflect"
	"strings"
	"testing"
)

func TestDecodeTurnsShortFormsIntoLongForms(t *testing.T) {
	got, err := Decode([]byte("A: !Ref X\nB: !GetAtt R.Arn\nC: !If [c, !Sub 'x-${Y}', !Ref AWS::NoValue]\nD: true\nE: ~\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"A": map[string]any{"Ref": "X"},
		"B": map[string]any{"Fn::GetAtt": "R.Arn"},
		"C": map[string]any{"Fn::If": []any{"c", map[string]any{"Fn::Sub": "x-${Y}"}, map[string]any{"Ref": "AWS::NoValue"}}},
		"D": true,
		"E": nil,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestDecodeReadsJSON(t *testing.T) {
	got, err := Decode([]byte(`{"Resources": {"R": {"Type": "AWS::S3::Bucket"}}}`))
	if err != nil || got["Resources"].(map[string]any)["R"] == nil {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := map[string]string{
		"empty":    "",
		"a list":   "- a\n",
		"an alias": "a: &x 1\nb: *x\n",
		"too deep": strings.Repeat("[", 300) + strings.Repeat("]", 300),
		"not yaml": "a: [b\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode([]byte(in)); err == nil {
				t.Fatal("Decode succeeded")
			}
		})
	}
}
