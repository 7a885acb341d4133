"""One module per benchmark (named as its JSON): its section of the page and its target rows."""
