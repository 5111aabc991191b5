package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Resources discovery watches; label values of the discovery_* metrics.
const (
	ResourceIngresses = "ingresses"
	ResourceServices  = "services"
	ResourcePods      = "pods"
	ResourceEvents    = "events"
)

var resources = []string{ResourceIngresses, ResourceServices, ResourcePods, ResourceEvents}

// Options configure a Discovery. The zero value watches every namespace for
// IngressClass tailscale, with the operator in namespace tailscale.
type Options struct {
	// IngressClass is the spec.ingressClassName of the operator's Ingresses.
	IngressClass string
	// OperatorNamespace is where the proxy pods run.
	OperatorNamespace string
	// Namespaces restricts Ingresses, Services and Events to these
	// namespaces; empty means all (which needs a ClusterRole).
	Namespaces []string
	Logger     log.Logger
}

// Discovery keeps the endpoints, proxy pods and Warning Events of a cluster
// in informer caches. Its Update sends their metrics and its own health.
//
// RBAC: list and watch on ingresses (networking.k8s.io), services and
// events in the watched namespaces, and on pods in the operator namespace.
// Events are selected on the server (type=Warning and involvedObject.kind
// Ingress or Service, one informer each), so only those are cached.
type Discovery struct {
	opts   Options
	now    func() time.Time
	health *health

	ingresses, services, events []source
	pods                        source
	all                         []source

	started  atomic.Bool
	syncedCh chan struct{} // closed once synced and subscribers were told

	mu       sync.Mutex
	subs     map[chan struct{}]struct{}
	warnings *warningCounts
}

type source struct {
	stream
	// list is the informer's list call, without health reporting; Snapshot
	// pages through it.
	list     listFunc
	informer cache.SharedIndexInformer
	// handled has synced once the handlers have seen the initial list,
	// which may be after the informer's store has.
	handled cache.ResourceEventHandlerRegistration
}

// New builds a Discovery over client. Nothing talks to the API server until
// Run.
func New(client kubernetes.Interface, opts Options) *Discovery {
	if opts.IngressClass == "" {
		opts.IngressClass = "tailscale"
	}
	if opts.OperatorNamespace == "" {
		opts.OperatorNamespace = "tailscale"
	}
	if opts.Logger == nil {
		opts.Logger = log.NewNopLogger()
	}
	namespaces := slices.Clone(opts.Namespaces)
	slices.Sort(namespaces)
	namespaces = slices.Compact(namespaces)
	if len(namespaces) == 0 || slices.Contains(namespaces, metav1.NamespaceAll) {
		namespaces = []string{metav1.NamespaceAll}
	}
	opts.Namespaces = namespaces

	d := &Discovery{
		opts:     opts,
		now:      time.Now,
		subs:     map[chan struct{}]struct{}{},
		warnings: newWarningCounts(),
		syncedCh: make(chan struct{}),
	}
	d.health = newHealth(opts.Logger, func() time.Time { return d.now() })

	for _, ns := range namespaces {
		ings := client.NetworkingV1().Ingresses(ns)
		d.ingresses = append(d.ingresses, d.newSource(client, stream{ResourceIngresses, ns, ""}, &networkingv1.Ingress{},
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return ings.List(ctx, o) },
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return ings.Watch(ctx, o) },
			d.endpointHandler(func(obj any) (Endpoint, bool) {
				ing, _ := obj.(*networkingv1.Ingress)
				return EndpointFromIngress(ing, opts.IngressClass)
			})))

		svcs := client.CoreV1().Services(ns)
		d.services = append(d.services, d.newSource(client, stream{ResourceServices, ns, ""}, &corev1.Service{},
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return svcs.List(ctx, o) },
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return svcs.Watch(ctx, o) },
			d.endpointHandler(func(obj any) (Endpoint, bool) {
				svc, _ := obj.(*corev1.Service)
				return EndpointFromService(svc)
			})))

		evs := client.CoreV1().Events(ns)
		for _, kind := range []string{ResourceIngress, ResourceService} {
			sel := fields.Set{"type": corev1.EventTypeWarning, "involvedObject.kind": kind}.String()
			d.events = append(d.events, d.newSource(client, stream{ResourceEvents, ns, sel}, &corev1.Event{},
				func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					o.FieldSelector = sel
					return evs.List(ctx, o)
				},
				func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
					o.FieldSelector = sel
					return evs.Watch(ctx, o)
				},
				d.eventHandler(kind)))
		}
	}

	pods := client.CoreV1().Pods(opts.OperatorNamespace)
	const managed = LabelManaged + "=true"
	d.pods = d.newSource(client, stream{ResourcePods, opts.OperatorNamespace, managed}, &corev1.Pod{},
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = managed
			return pods.List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = managed
			return pods.Watch(ctx, o)
		},
		d.podHandler())

	d.all = slices.Concat(d.ingresses, d.services, d.events, []source{d.pods})
	return d
}

type (
	listFunc  = func(context.Context, metav1.ListOptions) (runtime.Object, error)
	watchFunc = func(context.Context, metav1.ListOptions) (watch.Interface, error)
)

// newSource builds an informer whose list and watch calls report to health.
func (d *Discovery) newSource(client kubernetes.Interface, s stream, obj runtime.Object,
	list listFunc, watchFn watchFunc, h cache.ResourceEventHandler) source {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			out, err := list(ctx, o)
			if err != nil {
				d.health.failed(s, "list", err)
				return nil, &callError{verb: "list", err: err}
			}
			d.health.ok(s, "list")
			return out, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			// client-go first asks for the initial list as a watch stream
			// (WatchListClient) and falls back to a plain list when the
			// server cannot serve one: an API server without the feature,
			// or one whose etcd lacks progress notifications, which
			// answers with an Error event. Only the outcome of that list
			// counts, so such refusals are not failures.
			report := func(err error) {
				if !isWatchList(o) || ErrorKind(err) != ErrorOther {
					d.health.failed(s, "watch", err)
				}
			}
			w, err := watchFn(ctx, o)
			if err != nil {
				report(err)
				return nil, &callError{verb: "watch", err: err}
			}
			d.health.ok(s, "watch")
			// The reflector only logs a watch that ends with an error
			// (410 Gone after a compaction, mostly); count it here.
			return observeWatch(w, report), nil
		},
	}
	// The fake clientset cannot serve watch-list requests and says so;
	// real clients keep client-go's default.
	inf := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, client), obj, 0, cache.Indexers{})
	// Errors of calls and of watch streams were counted where they
	// happened; what is left are lists the informer could not use.
	_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		var ce *callError
		if errors.As(err, &ce) || errors.Is(err, context.Canceled) {
			return
		}
		d.health.failed(s, "watch", err)
	})
	reg, _ := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			d.health.delivered()
			h.OnAdd(obj, false)
		},
		UpdateFunc: func(old, obj any) {
			d.health.delivered()
			h.OnUpdate(old, obj)
		},
		DeleteFunc: func(obj any) {
			d.health.delivered()
			h.OnDelete(obj)
		},
	})
	return source{stream: s, list: list, informer: inf, handled: reg}
}

// isWatchList reports whether a watch call asks for the initial list as a
// stream of events.
func isWatchList(o metav1.ListOptions) bool {
	return o.SendInitialEvents != nil && *o.SendInitialEvents
}

func unwrapTombstone(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

// endpointHandler notifies subscribers when an object's endpoint appears,
// changes or goes, and forgets the Warning totals of deleted objects.
func (d *Discovery) endpointHandler(from func(any) (Endpoint, bool)) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if _, ok := from(obj); ok {
				d.notify()
			}
		},
		UpdateFunc: func(old, obj any) {
			eo, oko := from(old)
			en, okn := from(obj)
			if oko != okn || !eo.equal(en) {
				d.notify()
			}
		},
		DeleteFunc: func(obj any) {
			obj = unwrapTombstone(obj)
			d.mu.Lock()
			switch o := obj.(type) {
			case *networkingv1.Ingress:
				d.warnings.drop(ObjectRef{ResourceIngress, o.Namespace, o.Name})
			case *corev1.Service:
				d.warnings.drop(ObjectRef{ResourceService, o.Namespace, o.Name})
			}
			d.mu.Unlock()
			if _, ok := from(obj); ok {
				d.notify()
			}
		},
	}
}

func (d *Discovery) podHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			pod, _ := obj.(*corev1.Pod)
			if _, ok := ProxyPodFromPod(pod); ok {
				d.notify()
			}
		},
		UpdateFunc: func(old, obj any) {
			po, _ := old.(*corev1.Pod)
			pn, _ := obj.(*corev1.Pod)
			o, oko := ProxyPodFromPod(po)
			n, okn := ProxyPodFromPod(pn)
			if oko != okn || o != n {
				d.notify()
			}
		},
		DeleteFunc: func(obj any) {
			pod, _ := unwrapTombstone(obj).(*corev1.Pod)
			if _, ok := ProxyPodFromPod(pod); ok {
				d.notify()
			}
		},
	}
}

// eventHandler counts the Warning Events about objects of one kind. It
// checks the kind itself as well: an API server honours the informer's field
// selector, a fake clientset does not, and each Event must be counted by one
// informer only.
func (d *Discovery) eventHandler(kind string) cache.ResourceEventHandler {
	warning := func(obj any) (Warning, bool) {
		ev, _ := obj.(*corev1.Event)
		w, ok := WarningFromEvent(ev)
		return w, ok && w.Object.Resource == kind
	}
	observe := func(obj any) {
		if w, ok := warning(obj); ok {
			d.mu.Lock()
			d.warnings.observe(w)
			d.mu.Unlock()
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    observe,
		UpdateFunc: func(_, obj any) { observe(obj) },
		DeleteFunc: func(obj any) {
			w, ok := warning(unwrapTombstone(obj))
			if !ok {
				return
			}
			exists := d.objectExists(w.Object)
			d.mu.Lock()
			defer d.mu.Unlock()
			d.warnings.forget(w.Event)
			if !exists {
				// The last trace of an object deleted before its Events.
				d.warnings.drop(w.Object)
			}
		},
	}
}

func (d *Discovery) objectExists(ref ObjectRef) bool {
	srcs := d.ingresses
	if ref.Resource == ResourceService {
		srcs = d.services
	}
	for _, s := range srcs {
		if _, ok, _ := s.informer.GetStore().GetByKey(ref.Namespace + "/" + ref.Name); ok {
			return true
		}
	}
	return false
}

// Run starts the informers and returns when ctx is done and they have
// stopped. It does not wait for the caches to sync: an unreachable or
// forbidding API server shows in the health metrics while the informers
// retry. A Discovery runs once.
func (d *Discovery) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("discovery: Run called twice")
	}
	var wg sync.WaitGroup
	for _, s := range d.all {
		wg.Go(func() { s.informer.RunWithContext(ctx) })
	}
	wg.Go(func() {
		// Subscribers that started before the caches filled learn of it.
		if cache.WaitForCacheSync(ctx.Done(), d.Synced) {
			d.notify()
			close(d.syncedCh)
		}
	})
	wg.Wait()
	return nil
}

// Synced reports whether every informer has completed its initial list.
func (d *Discovery) Synced() bool {
	for _, s := range d.all {
		if !s.handled.HasSynced() {
			return false
		}
	}
	return true
}

// WaitForSync blocks until every informer has completed its initial list
// and subscribers were notified, and reports whether that happened before
// ctx was done.
func (d *Discovery) WaitForSync(ctx context.Context) bool {
	select {
	case <-d.syncedCh:
		return true
	case <-ctx.Done():
		return false
	}
}

// LastSync returns when a list or watch call last succeeded or a watch last
// delivered a change; zero before the first.
func (d *Discovery) LastSync() time.Time { return d.health.lastSyncTime() }

// Errors returns how many list or watch failures of a resource were of the
// given kind (one of ErrorKinds).
func (d *Discovery) Errors(resource, kind string) float64 { return d.health.errorCount(resource, kind) }

// Subscribe returns a channel that receives a value after endpoints or proxy
// pods changed. Changes coalesce: one value may stand for many, so a reader
// calls Endpoints or ProxyPods after each. cancel ends the subscription.
func (d *Discovery) Subscribe() (changes <-chan struct{}, cancel func()) {
	ch := make(chan struct{}, 1)
	d.mu.Lock()
	d.subs[ch] = struct{}{}
	d.mu.Unlock()
	return ch, func() {
		d.mu.Lock()
		delete(d.subs, ch)
		d.mu.Unlock()
	}
}

func (d *Discovery) notify() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.subs {
		select {
		case ch <- struct{}{}:
		default: // a change is already pending
		}
	}
}

// allEndpoints returns the endpoint of every cached Ingress and Service.
func (d *Discovery) allEndpoints() []Endpoint {
	var eps []Endpoint
	for _, s := range d.ingresses {
		for _, obj := range s.informer.GetStore().List() {
			if e, ok := EndpointFromIngress(obj.(*networkingv1.Ingress), d.opts.IngressClass); ok {
				eps = append(eps, e)
			}
		}
	}
	for _, s := range d.services {
		for _, obj := range s.informer.GetStore().List() {
			if e, ok := EndpointFromService(obj.(*corev1.Service)); ok {
				eps = append(eps, e)
			}
		}
	}
	return eps
}

// Endpoints returns the endpoints, sorted by hostname label and
// deduplicated by it: of two objects claiming one name, the first by kind,
// namespace and name wins.
func (d *Discovery) Endpoints() []Endpoint {
	eps := d.allEndpoints()
	sortEndpoints(eps)
	return slices.CompactFunc(eps, func(a, b Endpoint) bool { return a.HostnameLabel() == b.HostnameLabel() })
}

// ProxyPods returns the proxy pods sorted by namespace and name.
func (d *Discovery) ProxyPods() []ProxyPod {
	objs := d.pods.informer.GetStore().List()
	pods := make([]ProxyPod, 0, len(objs))
	for _, obj := range objs {
		if p, ok := ProxyPodFromPod(obj.(*corev1.Pod)); ok {
			pods = append(pods, p)
		}
	}
	sortProxyPods(pods)
	return pods
}

// Update sends the metrics of the cached objects and of discovery's health;
// it is the "discovery" collector (collector.Collector). Metrics come from
// the caches at scrape time, so a deleted object's series are gone at the
// next scrape. While an informer has not synced or its last list or watch
// call failed, Update still sends everything the caches hold and returns
// an error naming each such informer's resource, namespace and kind of
// failure: what it sends may be incomplete or out of date.
func (d *Discovery) Update(ch chan<- prometheus.Metric) error {
	eps := d.allEndpoints()
	hostsByParent := make(map[Parent][]string, len(eps))
	for _, e := range eps {
		for _, m := range EndpointMetrics(e) {
			ch <- m
		}
		p := e.ProxyParent()
		// Two objects may claim one name; a pod's series must stay unique.
		if h := e.HostnameLabel(); !slices.Contains(hostsByParent[p], h) {
			hostsByParent[p] = append(hostsByParent[p], h)
		}
	}
	for _, obj := range d.pods.informer.GetStore().List() {
		p, ok := ProxyPodFromPod(obj.(*corev1.Pod))
		if !ok {
			continue
		}
		hosts := hostsByParent[p.Parent]
		if len(hosts) == 0 {
			hosts = []string{""}
		}
		for _, h := range hosts {
			for _, m := range ProxyPodMetrics(p, h) {
				ch <- m
			}
		}
	}
	d.mu.Lock()
	for _, e := range eps {
		for _, m := range WarningMetrics(e, d.warnings.of(e.Object())) {
			ch <- m
		}
	}
	d.mu.Unlock()
	return d.collectHealth(ch)
}

// collectHealth sends the health metrics and returns why discovery is not
// up, or nil.
func (d *Discovery) collectHealth(ch chan<- prometheus.Metric) error {
	var errs healthError
	failing := d.health.failures()
	for _, s := range d.all {
		if f, ok := failing[s.stream]; ok {
			errs = append(errs, fmt.Errorf("%s %s: %s: %w", f.verb, s.stream, f.kind, f.err))
		} else if !s.handled.HasSynced() {
			errs = append(errs, fmt.Errorf("%s: %w", s.stream, errNotSynced))
		}
	}
	for _, r := range resources {
		synced := 1.0
		for _, s := range d.all {
			if s.resource == r && !s.handled.HasSynced() {
				synced = 0
			}
		}
		ch <- prometheus.MustNewConstMetric(syncedDesc, prometheus.GaugeValue, synced, r)
		for _, k := range ErrorKinds {
			ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.CounterValue, d.health.errorCount(r, k), r, k)
		}
	}
	up := 0.0
	if len(errs) == 0 {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	var last float64
	if t := d.health.lastSyncTime(); !t.IsZero() {
		last = float64(t.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(lastSyncDesc, prometheus.GaugeValue, last)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// observedWatch passes a watch's events on, reporting Error events.
type observedWatch struct {
	watch.Interface
	out  chan watch.Event
	stop chan struct{}
	once sync.Once
}

func observeWatch(w watch.Interface, report func(error)) watch.Interface {
	ow := &observedWatch{Interface: w, out: make(chan watch.Event), stop: make(chan struct{})}
	go ow.loop(report)
	return ow
}

func (w *observedWatch) ResultChan() <-chan watch.Event { return w.out }

func (w *observedWatch) Stop() {
	w.once.Do(func() {
		close(w.stop)
		w.Interface.Stop()
	})
}

func (w *observedWatch) loop(report func(error)) {
	defer close(w.out)
	in := w.Interface.ResultChan()
	for {
		select {
		case ev, ok := <-in:
			if !ok {
				return
			}
			if ev.Type == watch.Error {
				report(apierrors.FromObject(ev.Object))
			}
			select {
			case w.out <- ev:
			case <-w.stop:
				return
			}
		case <-w.stop:
			return
		}
	}
}
