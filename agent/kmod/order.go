package kmod

import "slices"

// loadOrder returns the modules to load, in order, for the devices with
// the given modaliases: every module whose alias pattern matches, each
// preceded by its dependencies. Modules in skip (already loaded or already
// tried) are left out, and so are modules missing from modules.dep, which
// are built into the kernel.
//
// modules.dep lists a module's whole dependency closure with the ones to
// load last first, so each list is walked backwards, deepest first; the
// recursion also orders any dependency whose own line is in another order.
func (ix *index) loadOrder(modaliases []string, skip map[string]bool) []string {
	var order []string
	visited := make(map[string]bool)
	var visit func(name string)
	visit = func(name string) {
		if visited[name] || skip[name] {
			return
		}
		visited[name] = true
		m, ok := ix.modules[name]
		if !ok {
			return
		}
		for _, dep := range slices.Backward(m.deps) {
			visit(dep)
		}
		order = append(order, name)
	}
	for _, modalias := range modaliases {
		for _, a := range ix.aliases {
			if match(a.pattern, modalias) {
				visit(a.module)
			}
		}
	}
	return order
}
