// Command local-volumes is the local cluster's storage provisioner (scripts/local-cluster.sh). For each
// PersistentVolumeClaim of a StorageClass whose provisioner is qmtl.local/local-volumes, once the
// scheduler has picked the claim's node (WaitForFirstConsumer), it makes a directory under -root and a
// `local` PersistentVolume bound to the claim and pinned to that node; a released volume of reclaim
// policy Delete loses its directory and its PersistentVolume.
//
// Why not the controller-manager's built-in hostPath provisioner: it makes root-owned 0750 directories,
// and the kubelet does not apply a pod's fsGroup to hostPath volumes, so a non-root database could not
// write its data. The kubelet does apply fsGroup to `local` volumes, and the directories here are 0777.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

const (
	provisionedBy = "pv.kubernetes.io/provisioned-by"
	selectedNode  = "volume.kubernetes.io/selected-node"
)

type provisioner struct {
	name   string
	root   string
	client kubernetes.Interface
	claims cache.Indexer
	vols   cache.Indexer
	class  cache.Indexer
}

func (p *provisioner) reconcile(ctx context.Context) {
	for _, obj := range p.claims.List() {
		claim := obj.(*corev1.PersistentVolumeClaim)
		if err := p.provision(ctx, claim); err != nil {
			klog.ErrorS(err, "provisioning failed", "claim", claim.Namespace+"/"+claim.Name)
		}
	}
	for _, obj := range p.vols.List() {
		pv := obj.(*corev1.PersistentVolume)
		if err := p.reclaim(ctx, pv); err != nil {
			klog.ErrorS(err, "reclaiming failed", "volume", pv.Name)
		}
	}
}

func (p *provisioner) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName != "" || claim.DeletionTimestamp != nil || claim.Spec.StorageClassName == nil {
		return nil
	}
	obj, found, _ := p.class.GetByKey(*claim.Spec.StorageClassName)
	if !found || obj.(*storagev1.StorageClass).Provisioner != p.name {
		return nil
	}
	class := obj.(*storagev1.StorageClass)
	node := claim.Annotations[selectedNode]
	if node == "" {
		return nil // the scheduler has not chosen the consumer's node yet
	}
	name := "pvc-" + string(claim.UID)
	if _, found, _ := p.vols.GetByKey(name); found {
		return nil
	}
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return fmt.Errorf("block volumes are not supported")
	}
	dir := filepath.Join(p.root, name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o777); err != nil { // (MkdirAll's mode passes through the umask)
		return err
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{provisionedBy: p.name}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node},
				}}}},
			}},
		},
	}
	if _, err := p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	klog.InfoS("provisioned", "claim", claim.Namespace+"/"+claim.Name, "volume", name, "node", node, "path", dir)
	return nil
}

func (p *provisioner) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	if pv.Annotations[provisionedBy] != p.name || pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || pv.Spec.Local == nil {
		return nil
	}
	dir := filepath.Clean(pv.Spec.Local.Path)
	if !strings.HasPrefix(dir, p.root+string(filepath.Separator)) {
		return fmt.Errorf("%s is not under %s: not deleting it", dir, p.root)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	err := p.client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	klog.InfoS("deleted", "volume", pv.Name, "path", dir)
	return nil
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the provisioner's identity")
	root := flag.String("root", "", "directory the volumes' directories are made in")
	name := flag.String("provisioner", "qmtl.local/local-volumes", "the StorageClasses' provisioner name served")
	klog.InitFlags(nil)
	flag.Parse()
	if *kubeconfig == "" || *root == "" {
		fmt.Fprintln(os.Stderr, "usage: local-volumes -kubeconfig FILE -root DIR [-provisioner NAME]")
		os.Exit(2)
	}
	absRoot, err := filepath.Abs(*root)
	if err == nil {
		err = os.MkdirAll(absRoot, 0o755)
	}
	if err != nil {
		klog.ErrorS(err, "volume root")
		os.Exit(1)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.ErrorS(err, "kubeconfig")
		os.Exit(1)
	}
	client := kubernetes.NewForConfigOrDie(config)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	factory := informers.NewSharedInformerFactory(client, 30*time.Second)
	claims := factory.Core().V1().PersistentVolumeClaims().Informer()
	vols := factory.Core().V1().PersistentVolumes().Informer()
	classes := factory.Storage().V1().StorageClasses().Informer()
	kick := make(chan struct{}, 1)
	onChange := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) {
			select {
			case kick <- struct{}{}:
			default:
			}
		},
		UpdateFunc: func(any, any) {
			select {
			case kick <- struct{}{}:
			default:
			}
		},
	}
	for _, informer := range []cache.SharedIndexInformer{claims, vols, classes} {
		if _, err := informer.AddEventHandler(onChange); err != nil {
			klog.ErrorS(err, "informer")
			os.Exit(1)
		}
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	p := &provisioner{name: *name, root: absRoot, client: client,
		claims: claims.GetIndexer(), vols: vols.GetIndexer(), class: classes.GetIndexer()}
	klog.InfoS("serving", "provisioner", p.name, "root", p.root)
	for {
		p.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-time.After(10 * time.Second):
		}
	}
}
