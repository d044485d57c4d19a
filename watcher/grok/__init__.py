"""Reading Grok: the login in the Grok CLI's auth file, its refresh, and the billing API."""
