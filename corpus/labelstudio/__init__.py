"""Stages 4 and 5's server side: the embedded Label Studio (`server`), the one client that talks
to a Label Studio over HTTP (`client`), push policy and the ledger of pushed tasks (`push`), and
the pure task building (`tasks`)."""
