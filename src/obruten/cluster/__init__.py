"""Two sites, automatic failover (Patroni), a read copy and a lagged copy, on one machine."""
