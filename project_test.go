package main

import (
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

func loadProject(t *testing.T) *workspace.Project {
	t.Helper()
	project, err := workspace.LoadProject("Pulumi.yaml")
	if err != nil {
		t.Fatalf("Pulumi.yaml does not load: %v", err)
	}
	return project
}

// Pulumi.yaml declares every key of configKeys, as a string with its description and
// default; required keys get an empty default so the CLI never stops before the program
// can name what is missing.
func TestPulumiYamlDeclaresEveryKeyAsTheCodeDoes(t *testing.T) {
	project := loadProject(t)
	if string(project.Name) != configNamespace || project.Runtime.Name() != "go" {
		t.Fatalf("project %q runtime %q, want %q on go", project.Name, project.Runtime.Name(), configNamespace)
	}
	var want []string
	for _, k := range configKeys {
		want = append(want, k.name)
	}
	var declared []string
	for key := range project.Config {
		if key != "aws:region" {
			declared = append(declared, key)
		}
	}
	if slices.Sort(declared); !slices.Equal(declared, slices.Sorted(slices.Values(want))) {
		t.Fatalf("Pulumi.yaml declares %q, configKeys has %q", declared, want)
	}
	for _, k := range configKeys {
		decl := project.Config[k.name]
		if decl.Type == nil || *decl.Type != "string" {
			t.Errorf("%s: type %v, want string: the program parses and checks %s values itself", k.name, decl.Type, k.typ)
		}
		if decl.Description != k.description {
			t.Errorf("%s: description\n %q\nwant %q", k.name, decl.Description, k.description)
		}
		if decl.Default == nil {
			t.Errorf("%s: no default; the CLI would stop with its own message before the program's", k.name)
			continue
		}
		if got, ok := decl.Default.(string); !ok || got != k.def {
			t.Errorf("%s: Pulumi.yaml default %#v, code default %q", k.name, decl.Default, k.def)
		}
	}
	if region := project.Config["aws:region"].Value; region != "us-east-1" {
		t.Errorf("aws:region project value = %v, want us-east-1 (the spec's default)", region)
	}
}

// Pulumi.dev.yaml ships without settings, and pulumi stack select --create and config set
// write the operator's own into it (a team may commit it so CI can preview): whatever holds,
// every Pulumi.<stack>.yaml there is may set only n3x keys the program reads, with values
// that pass its validation, so a typo fails CI, not the deploy. Nothing here depends on the
// file being empty.
func TestStackFileHoldsValidConfig(t *testing.T) {
	files, err := filepath.Glob("Pulumi.*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		stackName := strings.TrimSuffix(strings.TrimPrefix(file, "Pulumi."), ".yaml")
		t.Run(stackName, func(t *testing.T) {
			sink := diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never})
			stack, err := workspace.LoadProjectStack(sink, loadProject(t), file)
			if err != nil {
				t.Fatalf("%s does not load: %v", file, err)
			}
			values := map[string]string{keyAmiX86: testAmiX86, keySSHPublicKey: testSSHKey} // until the operator sets them
			var secret []string
			for key, value := range stack.Config {
				if key.Namespace() != configNamespace {
					continue
				}
				if value.Secure() {
					secret = append(secret, key.Name())
					if _, set := values[key.Name()]; !set {
						values[key.Name()] = "" // encrypted, checked when the program runs; listed as set
					}
					continue
				}
				if values[key.Name()], err = value.Value(config.NopDecrypter); err != nil {
					t.Fatalf("%s: %s: %v", file, key, err)
				}
			}
			src := testSource(values, stackName)
			src.secret = func(key string) bool { return slices.Contains(secret, key[len(configNamespace)+1:]) }
			if _, err := loadConfig(src); err != nil {
				t.Errorf("%s: %v", file, err) // a key the program does not read is one of its problems
			}
		})
	}
}

// What an operator types for a number or a yes/no reaches the program, which names the key
// and the command that fixes it: the CLI checks stack values against Pulumi.yaml's types
// (pkg/workspace validateStackConfigValue, through workspace.ValidateConfigValue) and,
// for a key declared integer or boolean, would stop at the first typo with "must be of
// type 'integer'" and no fix.
func TestTyposOfNumbersAndBooleansReachTheProgram(t *testing.T) {
	project := loadProject(t)
	typos := map[string][]string{configTypeInt: {"80GB", "2.5", "ten"}, configTypeBool: {"yes", "on", "enabled"}}
	for _, k := range configKeys {
		decl := project.Config[k.name]
		for _, typo := range typos[k.typ] {
			if decl.Type == nil || !workspace.ValidateConfigValue(*decl.Type, decl.Items, typo) {
				t.Errorf("%s=%q: the CLI rejects it before the program runs", k.name, typo)
				continue
			}
			src := testSource(map[string]string{keyAmiX86: testAmiX86, keySSHPublicKey: testSSHKey, k.name: typo}, "dev")
			_, err := loadConfig(src)
			if err == nil || !strings.Contains(err.Error(), "n3x:"+k.name+" ") || !strings.Contains(err.Error(), "fix: pulumi config set n3x:"+k.name+" ") {
				t.Errorf("%s=%q: the program's error names no key and fix: %v", k.name, typo, err)
			}
		}
	}
}
