package kubetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

func createNamespace(ctx context.Context, client kubernetes.Interface, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// ServiceAccountToken creates ServiceAccount namespace/name, a Role (or, if
// clusterWide, a ClusterRole) with exactly rules, a binding to it, and
// returns a token for the account from the TokenRequest API. It waits until
// the apiserver authorizes the token for the first rule, so a later 403 is
// about a missing verb, not about RBAC caches catching up.
func (c *Cluster) ServiceAccountToken(t testing.TB, namespace, name string, rules []rbacv1.PolicyRule, clusterWide bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := c.serviceAccountToken(ctx, namespace, name, rules, clusterWide)
	if err != nil {
		t.Fatalf("kubetest: service account %s/%s: %v", namespace, name, err)
	}
	return tok
}

func (c *Cluster) serviceAccountToken(ctx context.Context, namespace, name string, rules []rbacv1.PolicyRule, clusterWide bool) (string, error) {
	client := c.AdminClient()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if _, err := client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create: %w", err)
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}}
	if clusterWide {
		// Cluster-scoped names are shared by all tests: qualify them.
		roleName := "kubetest:" + namespace + ":" + name
		role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: roleName}, Rules: rules}
		if _, err := client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
			return "", fmt.Errorf("create ClusterRole %s: %w", roleName, err)
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: roleName},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName},
			Subjects:   subjects,
		}
		if _, err := client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			return "", fmt.Errorf("create ClusterRoleBinding %s: %w", roleName, err)
		}
	} else {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Rules: rules}
		if _, err := client.RbacV1().Roles(namespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
			return "", fmt.Errorf("create Role: %w", err)
		}
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   subjects,
		}
		if _, err := client.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
			return "", fmt.Errorf("create RoleBinding: %w", err)
		}
	}
	expiry := int64(3600)
	tr, err := client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}},
		metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request token: %w", err)
	}
	token := tr.Status.Token

	review := &authorizationv1.SelfSubjectAccessReview{}
	if len(rules) > 0 {
		review.Spec = firstRuleAccess(rules[0], namespace, clusterWide)
	} else {
		// Without rules only authentication can be awaited.
		review.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: "/version", Verb: "get"}
	}
	limited, err := kubernetes.NewForConfig(c.RESTConfig(token))
	if err != nil {
		return "", err
	}
	var last string
	err = poll(timeLeft(ctx), 50*time.Millisecond, func() (bool, error) {
		res, err := limited.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("allowed=%v reason=%q", res.Status.Allowed, res.Status.Reason)
		return res.Status.Allowed || len(rules) == 0, nil
	})
	if err != nil {
		return "", fmt.Errorf("wait until its token is authorized for %+v (last: %s): %w", review.Spec, last, err)
	}
	return token, nil
}

func firstRuleAccess(r rbacv1.PolicyRule, namespace string, clusterWide bool) authorizationv1.SelfSubjectAccessReviewSpec {
	first := func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		return s[0]
	}
	if len(r.NonResourceURLs) > 0 {
		return authorizationv1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &authorizationv1.NonResourceAttributes{
			Path: first(r.NonResourceURLs), Verb: first(r.Verbs)}}
	}
	ra := &authorizationv1.ResourceAttributes{
		Verb:     first(r.Verbs),
		Group:    first(r.APIGroups),
		Resource: first(r.Resources),
		Name:     first(r.ResourceNames),
	}
	if !clusterWide {
		ra.Namespace = namespace
	}
	return authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: ra}
}

func timeLeft(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return 30 * time.Second
}

// CreatePod creates pod (which must name its Namespace and Spec.NodeName,
// e.g. a node of Kubelet.RegisterNode) and then plays kubelet: it sets the
// status through the status subresource. Fields of pod.Status the caller
// set are kept; the rest default to a running, ready pod with one running
// container status per container (restartCount 0) and hostIP 127.0.0.1.
// Containers without an image get a placeholder one.
func CreatePod(t testing.TB, client kubernetes.Interface, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	if pod.Namespace == "" || pod.Spec.NodeName == "" {
		t.Fatalf("kubetest: CreatePod %q: set Namespace and Spec.NodeName (pod logs are proxied to that node's kubelet)", pod.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	created, err := createPod(ctx, client, pod.DeepCopy())
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return created
}

func createPod(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) (*corev1.Pod, error) {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Image == "" {
			pod.Spec.Containers[i].Image = "kubetest.invalid/placeholder:latest"
		}
	}
	status := pod.Status
	created, err := client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	if status.Phase == "" {
		status.Phase = corev1.PodRunning
	}
	if status.HostIP == "" {
		status.HostIP = "127.0.0.1"
		status.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
	}
	if status.StartTime == nil {
		status.StartTime = &now
	}
	if status.QOSClass == "" {
		status.QOSClass = corev1.PodQOSBestEffort
	}
	if len(status.Conditions) == 0 {
		for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			status.Conditions = append(status.Conditions, corev1.PodCondition{Type: ct, Status: corev1.ConditionTrue, LastTransitionTime: now})
		}
	}
	if len(status.ContainerStatuses) == 0 {
		started := true
		for _, ctr := range created.Spec.Containers {
			status.ContainerStatuses = append(status.ContainerStatuses, corev1.ContainerStatus{
				Name:        ctr.Name,
				Image:       ctr.Image,
				ImageID:     ctr.Image,
				ContainerID: "containerd://kubetest-" + string(created.UID) + "-" + ctr.Name,
				Ready:       true,
				Started:     &started,
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			})
		}
	}
	created.Status = status
	updated, err := client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("set status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return updated, nil
}

// RestartContainer records a container restart as the kubelet would:
// restartCount+1, the previous run in lastState (exit code 1), running again.
func RestartContainer(ctx context.Context, client kubernetes.Interface, namespace, pod, container string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := client.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[i]
			if cs.Name != container {
				continue
			}
			now := metav1.NewTime(time.Now().Truncate(time.Second))
			started := now
			if cs.State.Running != nil {
				started = cs.State.Running.StartedAt
			}
			cs.RestartCount++
			cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", StartedAt: started, FinishedAt: now}}
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
			_, err = client.CoreV1().Pods(namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		}
		return fmt.Errorf("no status for container %q", container)
	})
	if err != nil {
		return fmt.Errorf("restart container %s of pod %s/%s: %w", container, namespace, pod, err)
	}
	return nil
}

// DeletePod deletes a pod at once. With the default grace period it would
// wait for a kubelet to confirm and never go away.
func DeletePod(ctx context.Context, client kubernetes.Interface, namespace, name string) error {
	zero := int64(0)
	if err := client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", namespace, name, err)
	}
	return nil
}

// SetIngressHostname writes what the Tailscale operator writes once a proxy
// has its name: status.loadBalancer.ingress[0] = {hostname, ports: [443]}.
// An empty hostname clears the status.
func SetIngressHostname(ctx context.Context, client kubernetes.Interface, namespace, name, hostname string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ing, err := client.NetworkingV1().Ingresses(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ing.Status.LoadBalancer.Ingress = nil
		if hostname != "" {
			ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{
				Hostname: hostname,
				Ports:    []networkingv1.IngressPortStatus{{Port: 443, Protocol: corev1.ProtocolTCP}},
			}}
		}
		_, err = client.NetworkingV1().Ingresses(namespace).UpdateStatus(ctx, ing, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("set hostname %q on ingress %s/%s: %w", hostname, namespace, name, err)
	}
	return nil
}

// SetServiceHostname writes a LoadBalancer Service's status as the operator
// does: one ingress entry with the MagicDNS hostname, then one per tailnet
// IP. An empty hostname and no IPs clears the status. The Service must be of
// type LoadBalancer, or the apiserver rejects the status.
func SetServiceHostname(ctx context.Context, client kubernetes.Interface, namespace, name, hostname string, ips ...string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		svc, err := client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		svc.Status.LoadBalancer.Ingress = nil
		if hostname != "" {
			svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{Hostname: hostname})
		}
		for _, ip := range ips {
			svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
		_, err = client.CoreV1().Services(namespace).UpdateStatus(ctx, svc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("set hostname %q on service %s/%s: %w", hostname, namespace, name, err)
	}
	return nil
}
