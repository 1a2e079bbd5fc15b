"""The optional Claude teacher: the client (``client``) and the server's bridge to it (``bridge``)."""
