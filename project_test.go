package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
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

// The example stack must not choose anything for the operator: no AMI, no key.
func TestExampleStackSetsNothingRequired(t *testing.T) {
	sink := diag.DefaultSink(io.Discard, io.Discard, diag.FormatOptions{Color: colors.Never})
	stack, err := workspace.LoadProjectStack(sink, loadProject(t), "Pulumi.dev.yaml")
	if err != nil {
		t.Fatalf("Pulumi.dev.yaml does not load: %v", err)
	}
	for key := range stack.Config {
		if slices.Contains([]string{keyAmiX86, keyAmiArm64, keySSHPublicKey, keySubnetID}, key.Name()) {
			t.Errorf("Pulumi.dev.yaml sets %s; only the operator may choose it", key)
		}
	}
}
