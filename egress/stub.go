package egress

import "errors"

var errNotYet = errors.New("egress: routes parser not written yet")
