package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

// requiredKeys are the keys without a default: the CLI refuses to run until they are set.
var requiredKeys = []string{keyAmiX86, keySSHPublicKey}

func loadProject(t *testing.T) *workspace.Project {
	t.Helper()
	project, err := workspace.LoadProject("Pulumi.yaml")
	if err != nil {
		t.Fatalf("Pulumi.yaml does not load: %v", err)
	}
	return project
}

func TestPulumiYamlDeclaresEveryKeyWithTheCodesDefault(t *testing.T) {
	project := loadProject(t)
	if string(project.Name) != configNamespace || project.Runtime.Name() != "go" {
		t.Fatalf("project %q runtime %q, want %q on go", project.Name, project.Runtime.Name(), configNamespace)
	}
	declared := slices.Sorted(maps.Keys(project.Config))
	want := slices.Sorted(slices.Values(append(slices.Collect(maps.Keys(configDefaults)), append(requiredKeys, "aws:region")...)))
	if !slices.Equal(declared, want) {
		t.Fatalf("Pulumi.yaml declares %q, the code reads %q", declared, want)
	}
	for _, key := range declared {
		if key == "aws:region" {
			continue
		}
		decl := project.Config[key]
		if decl.Description == "" || decl.Type == nil {
			t.Errorf("%s: needs a type and a description", key)
		}
		if slices.Contains(requiredKeys, key) {
			if decl.Default != nil {
				t.Errorf("%s is required but Pulumi.yaml gives it the default %v", key, decl.Default)
			}
			continue
		}
		if decl.Default == nil {
			t.Errorf("%s: Pulumi.yaml has no default; the CLI would make it required", key)
			continue
		}
		if got := fmt.Sprint(decl.Default); got != configDefaults[key] {
			t.Errorf("%s: Pulumi.yaml default %q, code default %q", key, got, configDefaults[key])
		}
		wantType := map[string]string{"string": "string", "int": "integer", "bool": "boolean"}[fmt.Sprintf("%T", decl.Default)]
		if *decl.Type != wantType {
			t.Errorf("%s: declared %s with a %T default", key, *decl.Type, decl.Default)
		}
	}
	if region := project.Config["aws:region"].Value; region != "us-east-1" {
		t.Errorf("aws:region project value = %v, want us-east-1 (the spec's default)", region)
	}
}

// Pulumi.dev.yaml ships empty, and the README tells a team to commit its own (AMI ids,
// SSH key, CIDRs) so CI can preview: either way every n3x value in it must be a key the
// program reads and pass the program's validation, so a typo fails CI, not the deploy.
func TestStackFileHoldsValidConfig(t *testing.T) {
	sink := diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never})
	stack, err := workspace.LoadProjectStack(sink, loadProject(t), "Pulumi.dev.yaml")
	if err != nil {
		t.Fatalf("Pulumi.dev.yaml does not load: %v", err)
	}
	values := map[string]string{keyAmiX86: testAmiX86, keySSHPublicKey: testSSHKey} // until the operator sets them
	for key, value := range stack.Config {
		if key.Namespace() != configNamespace {
			continue
		}
		if _, known := configDefaults[key.Name()]; !known && !slices.Contains(requiredKeys, key.Name()) {
			t.Errorf("Pulumi.dev.yaml sets %s, which the program does not read", key)
			continue
		}
		if value.Secure() {
			continue
		}
		if values[key.Name()], err = value.Value(config.NopDecrypter); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	if _, err := loadConfig(func(key string) string { return values[key] }, "dev"); err != nil {
		t.Errorf("Pulumi.dev.yaml: %v", err)
	}
}
