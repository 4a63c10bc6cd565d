file(REMOVE_RECURSE
  "libmcr.a"
)
