-- PostgreSQL only (its storage of large rows); SQLite stores rows as they come.
SELECT 1;
