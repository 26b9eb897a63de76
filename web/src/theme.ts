export type Theme = 'light' | 'dark';

export function savedTheme(): Theme {
  const t = localStorage.getItem('rg-theme');
  if (t === 'light' || t === 'dark') return t;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(t: Theme) {
  document.documentElement.classList.toggle('dark', t === 'dark');
  localStorage.setItem('rg-theme', t);
}
