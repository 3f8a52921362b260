// pss-check evaluates every pod the given manifests would create against the Pod Security Standards,
// with the Kubernetes project's own implementation (k8s.io/pod-security-admission, the library behind
// the PodSecurity admission plugin). Built by scripts/scanners/install.sh.
//
// Usage: pss-check [-level restricted] [-version latest|v1.NN] FILE...
// Prints a JSON array with one entry per pod template (Pod, Deployment, StatefulSet, DaemonSet,
// ReplicaSet, Job, CronJob): {file, kind, name, allowed, reasons: ["<reason>: <detail>", ...]}.
// Exit status 0 whatever the verdicts (the caller judges them), 2 on unreadable input.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

type verdict struct {
	File    string   `json:"file"`
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Allowed bool     `json:"allowed"`
	Reasons []string `json:"reasons"`
}

// podTemplatePaths: where each kind keeps its pod template ({metadata, spec}).
var podTemplatePaths = map[string][]string{
	"Pod":         {},
	"Deployment":  {"spec", "template"},
	"StatefulSet": {"spec", "template"},
	"DaemonSet":   {"spec", "template"},
	"ReplicaSet":  {"spec", "template"},
	"Job":         {"spec", "template"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template"},
}

func main() {
	levelFlag := flag.String("level", "restricted", "Pod Security level: baseline or restricted")
	versionFlag := flag.String("version", "latest", "policy version: latest or v1.NN")
	flag.Parse()
	level, err := api.ParseLevel(*levelFlag)
	if err != nil {
		fail("-level: %v", err)
	}
	version, err := api.ParseVersion(*versionFlag)
	if err != nil {
		fail("-version: %v", err)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		fail("evaluator: %v", err)
	}
	lv := api.LevelVersion{Level: level, Version: version}

	verdicts := []verdict{}
	for _, file := range flag.Args() {
		data, err := os.ReadFile(file)
		if err != nil {
			fail("%v", err)
		}
		decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var obj map[string]interface{}
			if err := decoder.Decode(&obj); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				fail("%s: %v", file, err)
			}
			kind, _ := obj["kind"].(string)
			path, ok := podTemplatePaths[kind]
			if !ok {
				continue
			}
			template := obj
			for _, key := range path {
				next, _ := template[key].(map[string]interface{})
				template = next
			}
			meta, _ := obj["metadata"].(map[string]interface{})
			name, _ := meta["name"].(string)
			var pod corev1.Pod
			raw, _ := json.Marshal(template)
			if err := json.Unmarshal(raw, &pod); err != nil {
				fail("%s: %s/%s: pod template: %v", file, kind, name, err)
			}
			v := verdict{File: file, Kind: kind, Name: name, Allowed: true, Reasons: []string{}}
			for _, result := range evaluator.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec) {
				if !result.Allowed {
					v.Allowed = false
					v.Reasons = append(v.Reasons, result.ForbiddenReason+": "+result.ForbiddenDetail)
				}
			}
			verdicts = append(verdicts, v)
		}
	}
	out, _ := json.MarshalIndent(verdicts, "", "  ")
	fmt.Println(string(out))
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "pss-check: "+format+"\n", args...)
	os.Exit(2)
}
