package weights

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Finding the state dict (a dict of name -> tensor) inside what a PyTorch checkpoint saved.

// stateDictKeys are the keys under which checkpoints commonly keep their state dict, in
// order of preference.
var stateDictKeys = []string{"state_dict", "model", "teacher", "module", "model_state", "model_state_dict",
	"net", "network", "params", "state_dict_ema", "model_ema", "student"}

// maxWrapping is how many levels of wrapping dicts findStateDict looks through.
const maxWrapping = 4

// An error message lists at most maxListed keys, each cut to about maxKeyShown bytes.
const (
	maxListed   = 20
	maxKeyShown = 100
)

// stateDicts remembers which dicts are state dicts. The memo lets a pickle refer to one
// dict from any number of places for a few bytes each, so each is examined once.
type stateDicts map[*pyDict]bool

// is reports whether d is a state dict; see isStateDict.
func (known stateDicts) is(d *pyDict) bool {
	v, ok := known[d]
	if !ok {
		v = isStateDict(d)
		known[d] = v
	}
	return v
}

// findStateDict finds the state dict in the unpickled object root; see Read. It looks only
// at the dicts along one path of keys, at most maxWrapping deep, and at each dict's values,
// so it does the same work whatever cycles and sharing the objects have.
func findStateDict(root any) (*pyDict, string, error) {
	var path []string
	known := make(stateDicts)
	cur := root
	for range maxWrapping + 1 {
		d, ok := cur.(*pyDict)
		if !ok {
			hint := ""
			if _, isObj := cur.(*pyObject); isObj {
				hint = " (a pickled model? save model.state_dict() instead)"
			}
			return nil, "", fmt.Errorf("%s is a %s, not a dict of tensors%s", where(path), describe(cur), hint)
		}
		if known.is(d) {
			return d, strings.Join(path, "/"), nil
		}
		next, err := pickWrapped(d, path, known)
		if err != nil {
			return nil, "", err
		}
		path = append(path, next)
		cur, _ = d.get(next)
	}
	return nil, "", fmt.Errorf("no state dict within %d levels of nesting (at %s); choose one with ReadKey", maxWrapping, where(path))
}

// pickWrapped chooses the key of d to descend into when d is not itself a state dict.
func pickWrapped(d *pyDict, path []string, known stateDicts) (string, error) {
	for _, k := range stateDictKeys {
		if v, ok := d.get(k); ok {
			if _, isDict := v.(*pyDict); isDict {
				return k, nil
			}
		}
	}
	var holding, named []pyItem
	for _, it := range d.items {
		if _, ok := it.key.(string); !ok {
			continue
		}
		named = append(named, it)
		if sub, ok := it.value.(*pyDict); ok && known.is(sub) {
			holding = append(holding, it)
		}
	}
	switch len(holding) {
	case 1:
		return holding[0].key.(string), nil
	case 0:
		return "", fmt.Errorf("no state dict (a dict of name -> tensor) found: %s holds %s; choose one with ReadKey",
			where(path), listItems(named, true))
	}
	return "", fmt.Errorf("%s holds several state dicts (%s); choose one with ReadKey", where(path), listItems(holding, false))
}

// listItems sorts items, whose keys are strings, by key and lists the first maxListed
// keys, with the types of their values if withTypes is set, saying how many more there
// are. Only those are formatted: one long key can be memoized and used a million times.
func listItems(items []pyItem, withTypes bool) string {
	slices.SortStableFunc(items, func(a, b pyItem) int { return strings.Compare(a.key.(string), b.key.(string)) })
	shown := make([]string, min(len(items), maxListed))
	for i := range shown {
		shown[i] = clipKey(items[i].key.(string))
		if withTypes {
			shown[i] += " (" + describe(items[i].value) + ")"
		}
	}
	s := strings.Join(shown, ", ")
	if len(items) > len(shown) {
		s += fmt.Sprintf(" and %d more", len(items)-len(shown))
	}
	return s
}

// clipKey cuts s to maxKeyShown bytes, at the start of a character, marking the cut.
func clipKey(s string) string {
	if len(s) <= maxKeyShown {
		return s
	}
	n := maxKeyShown
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func where(path []string) string {
	if len(path) == 0 {
		return "the saved object"
	}
	return fmt.Sprintf("key %q", strings.Join(path, "/"))
}

// isStateDict reports whether d is a non-empty dict of string keys to tensors.
func isStateDict(d *pyDict) bool {
	for _, it := range d.items {
		_, ok1 := it.key.(string)
		_, ok2 := it.value.(*torchTensor)
		if !ok1 || !ok2 {
			return false
		}
	}
	return len(d.items) > 0
}

// stateDictAt returns the dict at the "/"-separated key path below root.
func stateDictAt(root any, key string) (*pyDict, error) {
	var path []string
	if key != "" {
		path = strings.Split(key, "/")
	}
	cur := root
	for i, k := range path {
		d, ok := cur.(*pyDict)
		if !ok {
			return nil, fmt.Errorf("%s is a %s, not a dict", where(path[:i]), describe(cur))
		}
		if cur, ok = d.get(k); !ok {
			return nil, fmt.Errorf("%s has no key %q", where(path[:i]), k)
		}
	}
	d, ok := cur.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("%s is a %s, not a dict of tensors", where(path), describe(cur))
	}
	return d, nil
}

// checkStateDict checks that every key of d, found at key, is a distinct name and every
// value a tensor.
func checkStateDict(d *pyDict, key string) error {
	var path []string
	if key != "" {
		path = strings.Split(key, "/")
	}
	seen := make(map[string]bool, len(d.items))
	for _, it := range d.items {
		name, ok := it.key.(string)
		if !ok {
			return fmt.Errorf("%s has a key of type %s; a state dict's keys are names", where(path), describe(it.key))
		}
		if _, ok := it.value.(*torchTensor); !ok {
			return &Error{Tensor: name, Err: fmt.Errorf("entry of %s is a %s, not a tensor", where(path), describe(it.value))}
		}
		if seen[name] {
			return &Error{Tensor: name, Err: fmt.Errorf("%s names this tensor twice", where(path))}
		}
		seen[name] = true
	}
	return nil
}
