import { render } from 'preact';
import './styles.css';
import { App } from './app';
import { applyTheme, resolveTheme } from './theme';
import { loadPrefs } from './lib/settings';

applyTheme(resolveTheme(loadPrefs().theme));
render(<App />, document.getElementById('app')!);
