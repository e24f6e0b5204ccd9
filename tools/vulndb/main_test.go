package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The index names every module an entry affects, with the entry's latest
// fix, and each entry is copied under ID/ as it is.
func TestRunWritesTheIndexGovulncheckReads(t *testing.T) {
	out := t.TempDir()
	if err := run("testdata/osv", out); err != nil {
		t.Fatal(err)
	}
	var mods []module
	readJSON(t, filepath.Join(out, "index", "modules.json"), &mods)
	if len(mods) != 2 || mods[0].Path != "golang.org/x/text" || mods[1].Path != "stdlib" || len(mods[1].Vulns) != 2 {
		t.Fatalf("modules.json: %+v", mods)
	}
	if v := mods[1].Vulns[1]; v.ID != "GO-2026-0002" || v.Fixed != "1.26.2" {
		t.Errorf("stdlib's second entry %+v, want GO-2026-0002 fixed in 1.26.2", v)
	}
	var db map[string]string
	readJSON(t, filepath.Join(out, "index", "db.json"), &db)
	if db["modified"] != "2026-06-01T00:00:00Z" {
		t.Errorf("db.json: %v", db)
	}
	a, _ := os.ReadFile("testdata/osv/GO-2026-0001.json")
	b, err := os.ReadFile(filepath.Join(out, "ID", "GO-2026-0001.json"))
	if err != nil || string(a) != string(b) {
		t.Errorf("ID/GO-2026-0001.json differs from the entry: %v", err)
	}
	if err := run(t.TempDir(), out); err == nil {
		t.Error("an empty directory gave a database")
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
