export type Theme = 'light' | 'dark';

/** The theme to show for a choice ("system" follows the OS). */
export function resolveTheme(choice: 'light' | 'dark' | 'system'): Theme {
  if (choice === 'light' || choice === 'dark') return choice;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(t: Theme) {
  document.documentElement.classList.toggle('dark', t === 'dark');
  document.documentElement.style.colorScheme = t;
}
