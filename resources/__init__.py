"""Files GenStudio ships: built-in data, icons, theme, default settings."""
