"""The whole topology as local processes under supervisord, for machines without Docker."""
